// Case 2: create + run + delete of busybox /bin/true from one OCI bundle — floe-runtime in
// process and through its CLI, against `crun run` and `runc run`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { root } from '../scripts/lib/setup.mjs';
import { trueBundle } from './bundles.mjs';
import { onInterrupt, removeCgroup, summary, timeit } from './stats.mjs';

const CLI = path.join(root, 'libs/runtime/dist/cli/floe-runtime.js');

/** Deletes whatever crun/runc containers a (failed) run left under `stateRoot`. */
export function cleanupOci(bin, stateRoot) {
  try {
    const list = JSON.parse(
      execFileSync(bin, ['--root', stateRoot, 'list', '--format', 'json'], { encoding: 'utf8' }) || '[]',
    );
    for (const c of list ?? [])
      execFileSync(bin, ['--root', stateRoot, 'delete', '-f', c.id], { stdio: 'ignore' });
  } catch {}
}

/** floe-runtime as a library in this long-lived process: run, wait for exit, delete. */
async function inProcess(bundle, work, n, warmup) {
  const { Runtime } = await import(path.join(root, 'libs/runtime/dist/index.js'));
  const parent = `floe-bench-${process.pid}`;
  const rt = new Runtime({ stateDir: path.join(work, 'inproc'), cgroupParent: parent });
  const times = [];
  let current;
  const unregister = onInterrupt(async () => {
    if (current) await rt.delete(current).catch(() => {});
    removeCgroup(parent);
  });
  try {
    for (let i = 0; i < n + warmup; i++) {
      current = `t${i}`;
      const t0 = performance.now();
      const c = await rt.run(`t${i}`, structuredClone(bundle.spec));
      await c.wait();
      await rt.delete(`t${i}`);
      if (i >= warmup) times.push(performance.now() - t0);
    }
  } finally {
    unregister();
    rt.close();
    removeCgroup(parent);
  }
  return times;
}

export async function runtimes({ work, n, log }) {
  const bundle = await trueBundle(path.join(work, 'true-bundle'));
  const warm = Math.max(3, Math.round(n / 10));
  const out = {};
  try {
    log(`runtime: floe-runtime in process, ${n} runs`);
    out.runtime_inproc_true_ms = summary(await inProcess(bundle, work, n, warm));

    const cliRoot = path.join(work, 'cli-state');
    mkdirSync(cliRoot, { recursive: true });
    log(`runtime: floe-runtime CLI, ${n} runs`);
    const cli = await timeit([process.execPath, CLI, '--root', cliRoot, 'run', 'c{i}', '-b', bundle.dir], {
      n: n + warm,
    });
    out.runtime_cli_true_ms = summary(cli.slice(warm));
    // The CLI's containers live under its default cgroup parent; drop it once empty.
    removeCgroup('floe');

    for (const bin of ['crun', 'runc']) {
      const stateRoot = path.join(work, `${bin}-state`);
      log(`runtime: ${bin} run, ${n} runs (in unshare -m with /sys/fs/cgroup/unified unmounted)`);
      const unregister = onInterrupt(() => cleanupOci(bin, stateRoot));
      try {
        const t = await timeit([bin, '--root', stateRoot, 'run', '-b', bundle.dir, `b${process.pid}-{i}`], {
          n: n + warm,
          hybridFree: true,
        });
        out[`${bin}_true_ms`] = summary(t.slice(warm));
      } finally {
        unregister();
        cleanupOci(bin, stateRoot);
      }
    }
  } finally {
    rmSync(bundle.rootfs, { recursive: true, force: true });
  }
  return out;
}
