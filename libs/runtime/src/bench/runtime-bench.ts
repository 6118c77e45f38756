import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Runtime } from '../runtime.js';
import { defaultSpec } from '../spec/defaults.js';

export interface BenchResult {
  runExit: { p50: number; p95: number; p99: number; n: number };
  freeze: { p50: number; p95: number };
  thaw: { p50: number; p95: number };
  freezer: string;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Builds a busybox rootfs in a temp dir (static /bin/busybox with applet symlinks). */
export function makeBusyboxRootfs(applets = ['sh', 'true', 'sleep', 'cat', 'echo', 'ps']): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-rootfs-'));
  // mkdtemp makes 0700: unreadable for a non-root payload or a user-namespace root.
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  for (const a of applets) fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'etc']) fs.mkdirSync(path.join(dir, d));
  return dir;
}

/**
 * create+start+exit of busybox `true` with every namespace but net (ms), and freeze/thaw of
 * a sleeping container (ms). Reused by the platform bench.
 */
export async function benchRuntime(
  opts: { iterations?: number; freezer?: 'auto' | 'v1' | 'v2' } = {},
): Promise<BenchResult> {
  const n = opts.iterations ?? 200;
  const rootfs = makeBusyboxRootfs();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-bench-'));
  const rt = new Runtime({ stateDir, cgroupParent: `floe-bench-${process.pid}`, freezer: opts.freezer });
  try {
    const spec = defaultSpec({ rootfs, args: ['/bin/true'] });
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((x) => x.type !== 'network');
    const times: number[] = [];
    for (let i = 0; i < n + 10; i++) {
      const t0 = performance.now();
      const c = await rt.run(`b${i}`, spec);
      await c.wait();
      const t = performance.now() - t0;
      await rt.delete(`b${i}`);
      if (i >= 10) times.push(t);
    }
    const sleeper = await rt.run('sleeper', defaultSpec({ rootfs, args: ['/bin/sleep', '1000'] }));
    const fz: number[] = [];
    const th: number[] = [];
    for (let i = 0; i < 200; i++) {
      let t0 = performance.now();
      await sleeper.freeze();
      fz.push(performance.now() - t0);
      t0 = performance.now();
      await sleeper.thaw();
      th.push(performance.now() - t0);
    }
    const freezer = (sleeper as unknown as { cgroup: { freezer: { version: string } } }).cgroup.freezer
      .version;
    await rt.delete('sleeper');
    return {
      runExit: { p50: pct(times, 50), p95: pct(times, 95), p99: pct(times, 99), n },
      freeze: { p50: pct(fz, 50), p95: pct(fz, 95) },
      thaw: { p50: pct(th, 50), p95: pct(th, 95) },
      freezer,
    };
  } finally {
    rt.close();
    fs.rmSync(rootfs, { recursive: true, force: true });
    fs.rmSync(stateDir, { recursive: true, force: true });
    for (const c of ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'unified']) {
      try {
        fs.rmdirSync(`/sys/fs/cgroup/${c}/floe-bench-${process.pid}`);
      } catch {}
    }
  }
}

const isMain = process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]));
if (isMain) {
  for (const freezer of ['v2', 'v1'] as const) {
    console.log(JSON.stringify(await benchRuntime({ iterations: Number(process.env.N ?? 200), freezer })));
  }
}
