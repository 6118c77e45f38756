// Writes Prometheus file-based service discovery targets for the node-agents registered in Redis.
//
//   REDIS_URL=redis://127.0.0.1:6379 node infra/prometheus/agents-sd.mjs --out /etc/prometheus/agents/floe.json [--every 10]
//
// Each agent keeps `floe:agents:<id>` (its AgentInfo, with the `http` address serving /metrics)
// alive by heartbeat and is a member of `floe:agents` until it stops cleanly. An agent that
// crashed is still a member but its key has expired: it stays in the file with the address it had,
// so Prometheus keeps scraping it, sees `up == 0` and FloeNodeAgentDown fires. An agent that
// stopped cleanly left the set and leaves the file.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';

/** Target groups for every registered agent, keeping the last known address of silent ones. */
export async function agentTargets(redis, { prefix = 'floe', previous = [] } = {}) {
  const known = new Map(previous.map((g) => [g.labels?.agent, g]));
  const ids = (await redis.smembers(`${prefix}:agents`)).sort();
  const infos = ids.length ? await redis.mget(ids.map((id) => `${prefix}:agents:${id}`)) : [];
  const groups = [];
  ids.forEach((id, i) => {
    const info = infos[i] ? JSON.parse(infos[i]) : undefined;
    if (info?.http) groups.push({ targets: [info.http], labels: { agent: id } });
    else if (known.has(id)) groups.push(known.get(id));
  });
  return groups;
}

/** Rewrites `file` atomically (Prometheus may read it at any time) when the targets changed. */
export async function writeAgentTargets(redis, file, opts = {}) {
  let previous = [];
  let before = '';
  try {
    before = readFileSync(file, 'utf8');
    previous = JSON.parse(before);
  } catch {}
  const text = `${JSON.stringify(await agentTargets(redis, { ...opts, previous }), null, 2)}\n`;
  if (text === before) return false;
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
  return true;
}

async function main() {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      every: { type: 'string' },
      prefix: { type: 'string', default: 'floe' },
    },
  });
  if (!values.out)
    throw new Error('usage: agents-sd.mjs --out <file.json> [--every <seconds>] [--prefix floe]');
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
  await redis.connect();
  const once = () => writeAgentTargets(redis, values.out, { prefix: values.prefix });
  await once();
  if (!values.every) return redis.quit();
  const timer = setInterval(
    () => once().catch((e) => console.error(`agents-sd: ${e.message}`)),
    Number(values.every) * 1000,
  );
  for (const sig of ['SIGINT', 'SIGTERM'])
    process.once(sig, () => {
      clearInterval(timer);
      redis.quit();
    });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(`agents-sd: ${e.message}`);
    process.exit(1);
  });
}
