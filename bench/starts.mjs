// Cases 3 and 4: the first call of a freshly deployed node function — cold (pools off) next to
// `crun run` of node to its first byte, and pre-warm (served by a stemcell, refilled between calls).
import { rmSync } from 'node:fs';
import path from 'node:path';
import { findNodeLayer, nodeBundle } from './bundles.mjs';
import { deployment } from './platform.mjs';
import { cleanupOci } from './runtimes.mjs';
import { onInterrupt, summary, timeit } from './stats.mjs';

/** First calls of `n` deployed-but-never-called functions; `between` runs after each. */
async function firstCalls(client, { prefix, n, expect, between = async () => {} }) {
  const times = [];
  const kinds = {};
  for (let i = 0; i < n; i++) {
    const name = `${prefix}-${i}`;
    // Min scale 0: nothing is started on deploy, so the first call is the start measured.
    await client.deploy(deployment('node', name, { labels: { 'com.openfaas.scale.min': '0' } }));
    const r = await client.invoke(name);
    kinds[r.start] = (kinds[r.start] ?? 0) + 1;
    if (r.start === expect) times.push(r.ms);
    await between();
  }
  return { times, kinds };
}

/** Pools off (FLOE_STEMCELLS=0): every first call is a cold start. */
export async function coldStarts(client, { n, log, work }) {
  log(`cold: first call of ${n} node functions, pools off`);
  const { times, kinds } = await firstCalls(client, { prefix: 'cold', n, expect: 'cold' });
  const out = { cold_node_ms: summary(times), cold_start_kinds: kinds };

  const layer = findNodeLayer(client.stateDir);
  if (!layer) throw new Error(`no node base layer (usr/bin/node) under ${client.stateDir}`);
  const bundle = await nodeBundle(path.join(work, 'node-bundle'), layer);
  const stateRoot = path.join(work, 'crun-node-state');
  log(
    `cold: crun run node -e "process.stdout.write('x')" to first byte, ${n} runs (unshare -m, unified unmounted)`,
  );
  const unregister = onInterrupt(() => cleanupOci('crun', stateRoot));
  try {
    const warm = 3;
    const t = await timeit(['crun', '--root', stateRoot, 'run', '-b', bundle.dir, `n${process.pid}-{i}`], {
      n: n + warm,
      first: true,
      hybridFree: true,
    });
    out.crun_node_ms = summary(t.slice(warm));
  } finally {
    unregister();
    cleanupOci('crun', stateRoot);
    rmSync(bundle.dir, { recursive: true, force: true });
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
