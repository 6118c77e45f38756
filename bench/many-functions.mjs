// Case many_functions: thousands of rarely called functions on one agent of the default size
// (75% of RAM), as `npm start` runs it. Deploys `exec` no-op exec and `node` no-op node
// functions, calls each twice (four at a time), and reports first- and second-call latency,
// 429s (the platform must answer none), what stays frozen, the memory it all takes, the deploy
// rate, the agent's evictions and heartbeat size, Redis bytes per function, and how long listing
// `list` functions takes, unpaged (OpenFaaS) and a page at a time.
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { deployment } from './platform.mjs';
import { sleep, summary } from './stats.mjs';

/** Runs `fn` over `items`, `n` at a time. */
async function pool(items, n, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

function cgroupBytes(parent) {
  for (const p of [
    `/sys/fs/cgroup/memory/${parent}/memory.usage_in_bytes`,
    `/sys/fs/cgroup/unified/${parent}/memory.current`,
    `/sys/fs/cgroup/${parent}/memory.current`,
  ]) {
    try {
      return Number(readFileSync(p, 'utf8'));
    } catch {}
  }
  return null;
}

const mib = (b) => (b === null ? null : Math.round((b / 2 ** 20) * 10) / 10);

export async function manyFunctions(client, { exec = 1000, node = 200, list = 10_000, log }) {
  const tag = Date.now().toString(36);
  const names = [
    ...Array.from({ length: exec }, (_, i) => ({ runtime: 'exec', service: `many-e${i}-${tag}` })),
    ...Array.from({ length: node }, (_, i) => ({ runtime: 'node', service: `many-n${i}-${tag}` })),
  ];
  const deploy = async ({ runtime, service }) => client.deploy(deployment(runtime, service));
  let t0 = performance.now();
  await pool(names, 8, deploy);
  const deployS = (performance.now() - t0) / 1000;
  log(`many_functions: deployed ${names.length} in ${deployS.toFixed(1)} s`);

  const rounds = [];
  const statuses = {};
  for (const round of ['first', 'second']) {
    const ms = [];
    const starts = {};
    t0 = performance.now();
    await pool(names, 4, async ({ service }) => {
      const r = await client.request(`/function/${service}`, { method: 'POST', body: 'x' });
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 200) ms.push(r.ms);
      const kind = r.headers['x-floe-start'] ?? 'error';
      starts[kind] = (starts[kind] ?? 0) + 1;
    });
    rounds.push({ round, ...summary(ms), starts, seconds: Math.round((performance.now() - t0) / 100) / 10 });
    log(`many_functions: ${round} calls ${JSON.stringify(rounds.at(-1))}`);
  }

  // Let the last instances reach their pause and their usage be measured.
  await sleep(1500);
  const metric = async (name, labels = {}) =>
    (await client.metrics())
      .filter((m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v))
      .reduce((a, m) => a + m.value, 0);
  const frozen = await client.containers('paused');
  const evictions = {};
  for (const m of await client.metrics())
    if (m.name === 'floe_evictions_total') evictions[m.labels.reason] = m.value;
  const redis = new Redis(client.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    return await measure();
  } finally {
    redis.disconnect();
  }

  async function measure() {
    const beat = await redis.strlen(`floe:agents:${client.agent.id}`);
    const counts = await redis.strlen(`floe:agents:${client.agent.id}:functions`);

    // Up to `list` functions in all: the rest are deployed only to be listed.
    const more = Array.from({ length: Math.max(0, list - names.length) }, (_, i) => ({
      runtime: 'exec',
      service: `list-${i}-${tag}`,
    }));
    t0 = performance.now();
    await pool(more, 8, deploy);
    const moreS = (performance.now() - t0) / 1000;
    const listMs = [];
    for (let i = 0; i < 3; i++) {
      const r = await client.request('/system/functions', { auth: true });
      if (r.status !== 200) throw new Error(`list: ${r.status} ${r.text.slice(0, 200)}`);
      listMs.push(r.ms);
    }
    const count = JSON.parse((await client.request('/system/functions', { auth: true })).text).length;
    t0 = performance.now();
    let cursor;
    let paged = 0;
    let pages = 0;
    const pageMs = [];
    do {
      const r = await client.request(`/system/functions?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, {
        auth: true,
      });
      pageMs.push(r.ms);
      paged += JSON.parse(r.text).length;
      pages++;
      cursor = r.headers['x-next-cursor'];
    } while (cursor);
    const pagedMs = performance.now() - t0;
    const describeMs = [];
    for (const { service } of names.slice(0, 20))
      describeMs.push((await client.request(`/system/function/${service}`, { auth: true })).ms);

    // The leader samples Redis every 30 s: wait for a sample that saw them all.
    let redisBytes = null;
    const end = Date.now() + 45_000;
    while (Date.now() < end) {
      const text = (await client.request(`http://127.0.0.1:${client.scheduler.http}/metrics`)).text;
      const deployed = Number(/^scheduler_functions_deployed (\S+)/m.exec(text)?.[1] ?? 0);
      if (deployed >= count) {
        redisBytes = Number(/^scheduler_redis_bytes_per_function (\S+)/m.exec(text)?.[1] ?? 0);
        break;
      }
      await sleep(1000);
    }
    const info = await redis.info('memory');
    const schedulerRss = rssBytes(client.scheduler.pid);

    return {
      many_functions: {
        functions: { exec, node },
        deploy_per_s: Math.round(names.length / deployS),
        deploy_per_s_to_list: Math.round(more.length / moreS) || null,
        calls: rounds,
        statuses,
        http_429: statuses[429] ?? 0,
        frozen,
        evictions,
        containers_memory_mib: mib(cgroupBytes(client.cgroupParent)),
        agent_reserved_mib: mib(await metric('floe_agent_memory_reserved_bytes')),
        agent_limits_mib: mib(await metric('floe_agent_memory_limits_bytes')),
        agent_capacity_mib: mib(await metric('floe_agent_memory_capacity_bytes')),
        heartbeat_bytes: beat,
        function_counts_bytes: counts,
        list: {
          functions: count,
          unpaged_ms: summary(listMs),
          paged_total_ms: Math.round(pagedMs),
          pages,
          paged_functions: paged,
          page_ms: summary(pageMs),
          describe_ms: summary(describeMs),
        },
        redis_bytes_per_function: redisBytes,
        redis_used_memory_mib: mib(Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0)),
        scheduler_rss_mib: mib(schedulerRss),
      },
    };
  }
}

function rssBytes(pid) {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
  } catch {
    return null;
  }
}
