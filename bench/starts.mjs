// Cases 3 and 4: the first call of a freshly deployed function — cold (pools off) next to
// `crun run` of the same program to its first byte, and pre-warm (served by a stemcell,
// refilled between calls). Cold starts are timed for node, python and the classic-watchdog
// OpenFaaS image (functions/alpine from ../shared), each against crun in the same run.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ImageStore } from '@floe/overlay-snapshots';
import { freePort } from '../scripts/lib/redis.mjs';
import { root } from '../scripts/lib/setup.mjs';
import { findLayer, layersBundle, nodeBundle } from './bundles.mjs';
import { deployment } from './platform.mjs';
import { cleanupOci } from './runtimes.mjs';
import { onInterrupt, removeCgroup, sleep, summary, timeit } from './stats.mjs';

const CLASSIC_ARCHIVE = path.resolve(root, '../shared/fixtures/openfaas-images/functions-alpine.docker.tar');
const CLASSIC = 'functions/alpine:latest';
/** Runs crun needs before its figures settle (page cache, first cgroup of a kind). */
const WARMUP = 3;

/** First calls of `n` deployed-but-never-called functions; `between` runs after each. */
async function firstCalls(client, { prefix, n, expect, runtime = 'node', dep, between = async () => {} }) {
  const times = [];
  const kinds = {};
  for (let i = 0; i < n; i++) {
    const name = `${prefix}-${i}`;
    // Min scale 0: nothing is started on deploy, so the first call is the start measured.
    const labels = { 'com.openfaas.scale.min': '0' };
    await client.deploy(dep ? dep(name, labels) : deployment(runtime, name, { labels }));
    const r = await client.invoke(name);
    kinds[r.start] = (kinds[r.start] ?? 0) + 1;
    if (r.start === expect) times.push(r.ms);
    await between();
  }
  return { times, kinds };
}

/**
 * A platform with prepared sandboxes (FLOE_SANDBOXES, the default) makes them as it comes up:
 * the series starts once the stock is there, as it would be on an agent that has been up a
 * while. Between calls it is refilled by the agent, or the start is made from scratch.
 */
async function sandboxesReady(client, runtime, log) {
  if (client.env?.FLOE_SANDBOXES === '0') return;
  await client.waitFor(`a prepared ${runtime} sandbox`, () => client.containers('sandbox', runtime));
  log(`cold: ${await client.containers('sandbox', runtime)} prepared ${runtime} sandbox(es) ready`);
}

/** `crun run` of a bundle, fork to first stdout byte (or HTTP answer on `port`), in `unshare -m`. */
async function crunRuns(bundle, { n, work, label, port }) {
  const stateRoot = path.join(work, `crun-${label}-state`);
  const unregister = onInterrupt(() => cleanupOci('crun', stateRoot));
  try {
    const argv = (id) => ['crun', '--root', stateRoot, 'run', '-b', bundle.dir, id];
    if (!port) {
      const t = await timeit(argv(`${label}${process.pid}-{i}`), {
        n: n + WARMUP,
        first: true,
        hybridFree: true,
      });
      return t.slice(WARMUP);
    }
    // A server is killed once it answered; its container is deleted before the next run takes
    // the port. A server that outlived its delete would answer the next run at once: one did,
    // and a run timed 1.7 ms at p50. So whatever is left in a run's cgroup is killed, and a run
    // starts only on a port nothing answers.
    const t = [];
    for (let i = 0; i < n + WARMUP; i++) {
      await portClosed(port);
      const id = `${label}${process.pid}-${i}`;
      try {
        t.push(...(await timeit(argv(id), { n: 1, port, hybridFree: true })));
      } finally {
        cleanupOci('crun', stateRoot);
        await killCgroup(id);
      }
    }
    return t.slice(WARMUP);
  } finally {
    unregister();
    cleanupOci('crun', stateRoot);
    rmSync(bundle.dir, { recursive: true, force: true });
  }
}

/** Whether something accepts on 127.0.0.1:`port`. */
function answers(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Resolves once nothing accepts on `port`; throws if something still does after 3 s. */
async function portClosed(port) {
  for (const until = Date.now() + 3000; await answers(port); await sleep(50))
    if (Date.now() > until)
      throw new Error(`port ${port} still answers: a container of an earlier run outlived its delete`);
}

/** SIGKILLs what is left in the cgroup crun made for container `id` (named after it), then removes it. */
async function killCgroup(id) {
  const procs = [`/sys/fs/cgroup/pids/${id}/cgroup.procs`, `/sys/fs/cgroup/${id}/cgroup.procs`].find(
    existsSync,
  );
  const left = () =>
    procs && existsSync(procs) ? readFileSync(procs, 'utf8').split('\n').filter(Boolean) : [];
  for (let tries = 0; left().length > 0 && tries < 20; tries++) {
    for (const pid of left())
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {}
    await sleep(50);
  }
  removeCgroup(id);
}

async function coldNode(client, { n, log, work, crun = true, key = 'cold_node_ms' }) {
  await sandboxesReady(client, 'node', log);
  log(`cold: first call of ${n} node functions, stemcells off`);
  const { times, kinds } = await firstCalls(client, { prefix: 'cold', n, expect: 'cold' });
  const out = {
    [key]: summary(times),
    [key.replace(/_ms$/, '_kinds').replace('cold_node_kinds', 'cold_start_kinds')]: kinds,
  };
  if (!crun) return out;
  const layer = findLayer(client.stateDir, 'usr/bin/node');
  if (!layer) throw new Error(`no node base layer (usr/bin/node) under ${client.stateDir}`);
  log(
    `cold: crun run node -e "process.stdout.write('x')" to first byte, ${n} runs (unshare -m, unified unmounted)`,
  );
  const bundle = await nodeBundle(path.join(work, 'node-bundle'), layer);
  out.crun_node_ms = summary(await crunRuns(bundle, { n, work, label: 'n' }));
  // The same binary and command with no container at all: node's own boot to its first byte,
  // the least any start that runs node after the call arrives can take.
  log(`cold: the same node -e on the host, no container, ${n} runs`);
  const bare = await timeit([path.join(layer, 'usr/bin/node'), '-e', "process.stdout.write('x')"], {
    n: n + WARMUP,
    first: true,
  });
  out.bare_node_ms = summary(bare.slice(WARMUP));
  return out;
}

async function coldPython(client, { n, log, work }) {
  await sandboxesReady(client, 'python', log);
  log(`cold: first call of ${n} python functions, stemcells off`);
  const { times, kinds } = await firstCalls(client, {
    prefix: 'cold-py',
    n,
    expect: 'cold',
    runtime: 'python',
  });
  const out = { cold_python_ms: summary(times), cold_python_start_kinds: kinds };
  // Debian's interpreter as the platform's python base layer holds it (never pyenv's shim).
  const layer = findLayer(client.stateDir, 'usr/bin/python3.11');
  if (!layer) throw new Error(`no python base layer (usr/bin/python3.11) under ${client.stateDir}`);
  log(`cold: crun run python3 -c "sys.stdout.write('x')" to first byte, ${n} runs`);
  const bundle = await layersBundle(
    path.join(work, 'python-bundle'),
    [layer],
    ['/usr/bin/python3', '-u', '-c', "import sys; sys.stdout.write('x')"],
  );
  out.crun_python_ms = summary(await crunRuns(bundle, { n, work, label: 'p' }));
  return out;
}

/**
 * functions/alpine (classic watchdog, `fprocess=cat`): Floe's first call over HTTPS, against crun
 * running the image's own Cmd from the same layers (unpacked by Floe's layer store) to the
 * watchdog's first HTTP answer on loopback.
 */
async function coldImage(client, { n, log, work }) {
  log(
    `cold: first call of ${n} functions/alpine image functions (classic watchdog, fprocess=cat), stemcells off (an image has no prepared sandbox)`,
  );
  await client.importImage(CLASSIC_ARCHIVE, CLASSIC);
  const { times, kinds } = await firstCalls(client, {
    prefix: 'cold-img',
    n,
    expect: 'cold',
    dep: (service, labels) => ({ service, image: CLASSIC, envProcess: 'cat', labels }),
  });
  const out = { cold_image_ms: summary(times), cold_image_start_kinds: kinds };

  const storeDir = path.join(work, 'crun-image-store');
  try {
    const store = await ImageStore.open(storeDir);
    const img = await store.importArchive(CLASSIC_ARCHIVE, CLASSIC);
    const port = await freePort();
    const cfg = img.config;
    const bundle = await layersBundle(
      path.join(work, 'image-bundle'),
      img.layers.map((l) => store.layers.path(l)),
      [...(cfg.Entrypoint ?? []), ...(cfg.Cmd ?? [])],
      {
        readonly: false,
        tune(spec) {
          spec.process.env = [...(cfg.Env ?? []), 'fprocess=cat', `port=${port}`];
          spec.process.cwd = cfg.WorkingDir || '/';
          const uid = Number(cfg.User ?? 0);
          spec.process.user = Number.isInteger(uid) ? { uid, gid: uid } : { uid: 0, gid: 0 };
        },
      },
    );
    log(
      `cold: crun run of the image's Cmd (${bundle.spec.process.args.join(' ')}) to its first HTTP answer, ${n} runs`,
    );
    out.crun_image_ms = summary(await crunRuns(bundle, { n, work, label: 'i', port }));
  } finally {
    rmSync(storeDir, { recursive: true, force: true });
  }
  return out;
}

/**
 * Pools off (FLOE_STEMCELLS=0): every first call is a cold start. `runtimes` picks the cases
 * (node, python, image); image is skipped, with the reason noted, without ../shared.
 */
export async function coldStarts(
  client,
  { n, log, work, runtimes = ['node', 'python', 'image'], notes = [], crun = true, key },
) {
  const out = {};
  if (runtimes.includes('node')) Object.assign(out, await coldNode(client, { n, log, work, crun, key }));
  if (runtimes.includes('python')) Object.assign(out, await coldPython(client, { n, log, work }));
  if (runtimes.includes('image')) {
    if (existsSync(CLASSIC_ARCHIVE)) Object.assign(out, await coldImage(client, { n, log, work }));
    else {
      const why = `cold_image_ms skipped: no OpenFaaS fixture image at ${CLASSIC_ARCHIVE}`;
      log(why);
      notes.push(why);
    }
  }
  return out;
}

/** Pools on: each first call takes the node stemcell; the next waits until it is refilled. */
export async function prewarmStarts(client, { n, log }) {
  const stemcells = () => client.containers('stemcell', 'node');
  const target = await client.waitFor('a node stemcell', stemcells);
  log(`prewarm: first call of ${n} node functions, each served by a stemcell (target ${target})`);
  const { times, kinds } = await firstCalls(client, {
    prefix: 'pre',
    n,
    expect: 'prewarm',
    between: () => client.waitFor('the node stemcell refill', async () => (await stemcells()) >= target),
  });
  return { prewarm_node_ms: summary(times), prewarm_start_kinds: kinds };
}
