// Case 7: memory per frozen instance per runtime, and how fast instances are created. Pools
// off, so the agent's cgroup parent holds only function instances; each runtime gets one
// no-op function with com.openfaas.scale.min = N. The instances are told apart by the cgroups
// that appeared after the deploy; once all N are frozen (cgroup freezer) and their reclaimable
// memory has been given back, memory.usage_in_bytes (cgroup v1) of each is read.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { deployment } from './platform.mjs';
import { sleep } from './stats.mjs';

const RECLAIM_WAIT_MS = 3000; // > FLOE_RECLAIM_AFTER_MS (2000)

function instanceCgroups(parent, before = new Set()) {
  const dir = path.join('/sys/fs/cgroup/memory', parent);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !before.has(e.name))
    .map((e) => e.name);
}

function read(p) {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** Frozen by whichever freezer the agent uses: v2 (unified cgroup.events) or v1 (freezer.state). */
function frozen(parent, id) {
  return (
    /^frozen 1$/m.test(read(`/sys/fs/cgroup/unified/${parent}/${id}/cgroup.events`)) ||
    read(`/sys/fs/cgroup/freezer/${parent}/${id}/freezer.state`).trim() === 'FROZEN'
  );
}

const meanMib = (parent, ids) =>
  Math.round(
    (ids
      .map((id) => Number(read(`/sys/fs/cgroup/memory/${parent}/${id}/memory.usage_in_bytes`)))
      .reduce((a, b) => a + b, 0) /
      ids.length /
      2 ** 20) *
      100,
  ) / 100;

/** Mean of a memory.stat field (total_rss, total_cache) over the instances, MiB. */
const meanStatMib = (parent, ids, field) =>
  Math.round(
    (ids
      .map((id) =>
        Number(
          new RegExp(`^${field} (\\d+)$`, 'm').exec(
            read(`/sys/fs/cgroup/memory/${parent}/${id}/memory.stat`),
          )?.[1] ?? 0,
        ),
      )
      .reduce((a, b) => a + b, 0) /
      ids.length /
      2 ** 20) *
      100,
  ) / 100;

export async function density(client, { n, log }) {
  const parent = client.cgroupParent;
  const out = [];
  for (const runtime of ['node', 'python', 'exec']) {
    const before = new Set(instanceCgroups(parent));
    log(`density: pre-warming ${n} ${runtime} instances (scale.min ${n})`);
    const t0 = performance.now();
    await client.deploy(
      deployment(runtime, `dense-${runtime}`, { labels: { 'com.openfaas.scale.min': String(n) } }),
    );
    let first;
    const ids = await client.waitFor(
      `${n} frozen ${runtime} instances`,
      async () => {
        const now = instanceCgroups(parent, before);
        if (now.length && !first) first = performance.now();
        return now.length >= n && now.every((id) => frozen(parent, id)) && now;
      },
      120_000,
    );
    const t1 = performance.now();
    const beforeReclaim = meanMib(parent, ids);
    await sleep(RECLAIM_WAIT_MS);
    const mib = meanMib(parent, ids);
    out.push({
      runtime,
      frozen_mib: mib,
      per_gib: Math.round(1024 / mib),
      instances: ids.length,
      frozen_mib_before_reclaim: beforeReclaim,
      rss_mib: meanStatMib(parent, ids, 'total_rss'),
      cache_mib: meanStatMib(parent, ids, 'total_cache'),
      // From the first instance's cgroup to all N frozen: the scheduler's reconcile delay
      // (FLOE_RECONCILE_MS) before the first one is not the agent's creation rate.
      create_per_s: Math.round((n / ((t1 - first) / 1000)) * 10) / 10,
      deploy_to_all_frozen_ms: Math.round(t1 - t0),
    });
  }
  return { density: out, create_per_s: out.find((d) => d.runtime === 'node').create_per_s };
}
