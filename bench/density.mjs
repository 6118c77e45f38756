// Case 7: memory per frozen instance per runtime, and how fast instances are created. Pools
// off, so the agent's cgroup parent holds only the function's instances; each runtime gets one
// no-op function with com.openfaas.scale.min = N; once all N are frozen and their reclaimable
// memory has been given back, memory.usage_in_bytes (cgroup v1) of each is read.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { deployment } from './platform.mjs';
import { sleep } from './stats.mjs';

const RECLAIM_WAIT_MS = 3000; // > FLOE_RECLAIM_AFTER_MS (2000)

function instanceCgroups(parent) {
  const dir = path.join('/sys/fs/cgroup/memory', parent);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(dir, e.name));
}

const usage = (cg) => Number(readFileSync(path.join(cg, 'memory.usage_in_bytes'), 'utf8'));

export async function density(client, { n, log }) {
  const out = [];
  for (const runtime of ['node', 'python', 'exec']) {
    const before = new Set(instanceCgroups(client.cgroupParent));
    const name = `dense-${runtime}`;
    log(`density: pre-warming ${n} ${runtime} instances (scale.min ${n})`);
    const t0 = performance.now();
    await client.deploy(deployment(runtime, name, { labels: { 'com.openfaas.scale.min': String(n) } }));
    const ready = async () =>
      (await client.containers('idle', runtime)) + (await client.containers('paused', runtime)) >= n;
    await client.waitFor(`${n} ${runtime} instances`, ready, 120_000);
    const createS = (performance.now() - t0) / 1000;
    await client.waitFor(`${n} frozen ${runtime} instances`, async () => (await client.containers('paused', runtime)) >= n);
    const frozenAt = usage_of(client, before);
    await sleep(RECLAIM_WAIT_MS);
    const cgs = instanceCgroups(client.cgroupParent).filter((c) => !before.has(c));
    const bytes = cgs.map(usage);
    const mib = bytes.reduce((a, b) => a + b, 0) / bytes.length / 2 ** 20;
    out.push({
      runtime,
      frozen_mib: Math.round(mib * 100) / 100,
      per_gib: Math.round(1024 / mib),
      instances: bytes.length,
      frozen_mib_before_reclaim: frozenAt,
      create_per_s: Math.round((n / createS) * 10) / 10,
    });
  }
  return { density: out, create_per_s: out.find((d) => d.runtime === 'node').create_per_s };
}

function usage_of(client, before) {
  const cgs = instanceCgroups(client.cgroupParent).filter((c) => !before.has(c));
  if (!cgs.length) return null;
  return Math.round((cgs.map(usage).reduce((a, b) => a + b, 0) / cgs.length / 2 ** 20) * 100) / 100;
}
