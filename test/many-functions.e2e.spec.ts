import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform } from '../scripts/lib/platform.mjs';
import { startRedis } from '../scripts/lib/redis.mjs';
import { codeArchive, uniqueName, waitFor } from './support/client.js';

const MIN0 = 'com.openfaas.scale.min';

// Platforms of their own with a deliberately small agent (FLOE_AGENT_MEMORY), so that "more
// functions than the agent holds" costs a few dozen containers, not thousands.
const MiB = 1024 * 1024;
const PASSWORD = 'many-functions';
const httpsAgent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });

type Platform = Awaited<ReturnType<typeof startPlatform>>;
type Reply = { status: number; text: string; headers: Record<string, unknown> };

function client(platform: () => Platform) {
  return (method: string, p: string, body?: string | object, auth = false): Promise<Reply> => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(p, platform().url), { method, headers, agent: httpsAgent }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(data);
    });
  };
}

/** Sum of a metric's samples on the agent whose labels include every `labels` pair. */
async function agentMetric(platform: Platform, name: string, labels: Record<string, string> = {}) {
  const text = await (await fetch(`http://127.0.0.1:${platform.agents[0]?.http}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function withPlatform(label: string, env: Record<string, string>) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `floe-e2e-${label}-`));
  const redis = await startRedis({ dir: path.join(dir, 'redis') });
  const platform = await startPlatform({
    stateDir: dir,
    redisUrl: redis.url,
    quiet: process.env.FLOE_E2E_VERBOSE !== '1',
    env: {
      FLOE_ADMIN_PASSWORD: PASSWORD,
      FLOE_STEMCELLS: '0',
      FLOE_PAUSE_GRACE_MS: '50',
      // A frozen instance's memory is not given back meanwhile, so its measured usage is stable.
      FLOE_RECLAIM_AFTER_MS: '600000',
      ...env,
    },
  });
  const stop = async () => {
    await platform.stop();
    redis.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  return { platform, stop };
}

describe('an agent holding more functions than capacity / limit', () => {
  // 512 MiB at an overcommit of 12: limits up to 6 GiB, i.e. 96 instances of 64 MiB.
  const HELD = 96;
  const N = 120;
  let platform: Platform;
  let stop: () => Promise<void> = async () => {};
  const call = client(() => platform);
  const names = Array.from({ length: N }, (_, i) => `many-${i}-${Math.random().toString(36).slice(2, 6)}`);

  beforeAll(async () => {
    ({ platform, stop } = await withPlatform('many', {
      FLOE_AGENT_MEMORY: String(512 * MiB),
      FLOE_AGENT_OVERCOMMIT: '12',
    }));
    for (const service of names) {
      const r = await call(
        'POST',
        '/system/functions',
        {
          service,
          runtime: 'exec',
          envProcess: 'cat',
          limits: { memory: '64Mi' },
          // Rarely-called functions: nothing kept warm until called (min scale defaults to 1).
          labels: { [MIN0]: '0' },
        },
        true,
      );
      expect(r.status, r.text).toBe(202);
    }
  }, 300_000);

  afterAll(() => stop(), 120_000);

  it('answers every call of every function 200, twice over, evicting the least recently used', async () => {
    const statuses = new Map<number, number>();
    const round = async () => {
      for (const name of names) {
        const r = await call('POST', `/function/${name}`, name);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) expect(r.text).toBe(name);
      }
    };
    await round();
    expect(Object.fromEntries(statuses)).toEqual({ 200: N });
    // N − HELD instances had to go to make room for the later functions' starts.
    expect(
      await agentMetric(platform, 'floe_evictions_total', { reason: 'capacity' }),
    ).toBeGreaterThanOrEqual(N - HELD);
    // The most recently called function is still there; the least recently called was evicted.
    const last = await call('POST', `/function/${names[N - 1]}`, 'again');
    expect(last.headers['x-floe-start']).toBe('warm');
    const first = await call('POST', `/function/${names[0]}`, 'again');
    expect(first.status).toBe(200);
    expect(first.headers['x-floe-start']).toBe('cold');
    await round();
    expect(Object.fromEntries(statuses)).toEqual({ 200: 2 * N });
    expect(await agentMetric(platform, 'floe_agent_memory_reserved_bytes')).toBeLessThanOrEqual(512 * MiB);
  }, 600_000);

  it('lists the functions a page at a time, and whole in the OpenFaaS form', async () => {
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const r = await call(
        'GET',
        `/system/functions?limit=50${cursor ? `&cursor=${cursor}` : ''}`,
        undefined,
        true,
      );
      expect(r.status).toBe(200);
      const page = JSON.parse(r.text) as { name: string }[];
      expect(page.length).toBeLessThanOrEqual(50);
      paged.push(...page.map((f) => f.name));
      cursor = r.headers['x-next-cursor'] as string | undefined;
    } while (cursor);
    expect(paged).toEqual([...names].sort());
    const whole = await call('GET', '/system/functions', undefined, true);
    expect((JSON.parse(whole.text) as { name: string }[]).map((f) => f.name).sort()).toEqual(paged);
    const floe = await call('GET', '/floe/functions?limit=100', undefined, true);
    const body = JSON.parse(floe.text) as { functions: { name: string }[]; nextCursor?: string };
    expect(body.functions.map((f) => f.name)).toEqual(paged.slice(0, 100));
    expect(body.nextCursor).toBe(paged[99]);
    const bad = await call('GET', '/system/functions?limit=0', undefined, true);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error.field).toBe('limit');
  });

  it('scales a busy function out by evicting idle ones while the others sit frozen', async () => {
    const service = uniqueName('busy');
    const dep = {
      service,
      runtime: 'exec',
      envProcess: 'sh -c "sleep 1; cat"',
      limits: { memory: '64Mi' },
      labels: { 'com.openfaas.scale.max': '8', [MIN0]: '0' },
    };
    expect((await call('POST', '/system/functions', dep, true)).status).toBe(202);
    const paused = await agentMetric(platform, 'floe_agent_containers', { state: 'paused' });
    const evicted = await agentMetric(platform, 'floe_evictions_total', { reason: 'capacity' });
    const cold = await agentMetric(platform, 'floe_agent_starts_total', { kind: 'cold' });
    expect(paused).toBeGreaterThanOrEqual(HELD - 8);
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) => call('POST', `/function/${service}`, `b${i}`)),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(6).fill(200));
    expect(replies.map((r) => r.text).sort()).toEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'b5']);
    // More than one instance served the burst, and each new one took an idle one's place.
    const started = (await agentMetric(platform, 'floe_agent_starts_total', { kind: 'cold' })) - cold;
    expect(started).toBeGreaterThanOrEqual(2);
    expect(
      (await agentMetric(platform, 'floe_evictions_total', { reason: 'capacity' })) - evicted,
    ).toBeGreaterThanOrEqual(started);
  }, 300_000);
});

describe('thawing a frozen instance past capacity', () => {
  let platform: Platform;
  let stop: () => Promise<void> = async () => {};
  const call = client(() => platform);
  const node = (service: string, memory: string, body: string) => ({
    service,
    runtime: 'node',
    handler: 'index.js',
    code: codeArchive({ 'index.js': body }),
    limits: { memory },
    labels: { [MIN0]: '0' },
  });
  // Holds 48 MiB for as long as the instance lives (frozen included).
  const HOLD = `const held = Buffer.alloc(48 * 1024 * 1024, 1);
module.exports = async () => 'heavy ' + held.length;`;

  beforeAll(async () => {
    ({ platform, stop } = await withPlatform('thaw', {
      FLOE_AGENT_MEMORY: String(320 * MiB),
      FLOE_AGENT_OVERCOMMIT: '4',
    }));
  }, 300_000);

  afterAll(() => stop(), 120_000);

  it('evicts another frozen instance first, so the thawed one fits at its limit', async () => {
    const light = uniqueName('light');
    const heavy = [uniqueName('heavy'), uniqueName('heavy')];
    const reserved = () => agentMetric(platform, 'floe_agent_memory_reserved_bytes');
    const frozen = (n: number) =>
      waitFor(`${n} frozen instances`, async () =>
        (await agentMetric(platform, 'floe_agent_containers', { state: 'paused' })) === n ? true : undefined,
      );
    for (const dep of [
      node(light, '256Mi', "module.exports = async () => 'light';"),
      node(heavy[0] as string, '128Mi', HOLD),
      node(heavy[1] as string, '128Mi', HOLD),
    ])
      expect((await call('POST', '/system/functions', dep, true)).status).toBe(202);

    // light (limit 256 MiB) runs, then is frozen and counted at its usage, not its limit.
    expect((await call('POST', `/function/${light}`)).text).toBe('light');
    await frozen(1);
    const lightUsage = await waitFor('light counted at its usage', async () => {
      const r = await reserved();
      return r < 200 * MiB ? r : undefined;
    });
    // Two instances holding 48 MiB each fill the agent: 256 + 128 + 128 MiB of limits in 320 MiB.
    expect((await call('POST', `/function/${heavy[0]}`)).text).toBe(`heavy ${48 * MiB}`);
    await frozen(2);
    await waitFor('heavy counted at its usage', async () =>
      (await reserved()) < lightUsage + 100 * MiB ? true : undefined,
    );
    expect((await call('POST', `/function/${heavy[1]}`)).text).toBe(`heavy ${48 * MiB}`);
    await frozen(3);
    expect(await agentMetric(platform, 'floe_evictions_total')).toBe(0);

    // Thawed, light counts at 256 MiB again: both heavy instances' usage no longer fits beside it.
    const r = await call('POST', `/function/${light}`);
    expect(r.status).toBe(200);
    expect(r.text).toBe('light');
    expect(r.headers['x-floe-start']).toBe('warm');
    expect(await agentMetric(platform, 'floe_evictions_total', { reason: 'thaw' })).toBeGreaterThanOrEqual(1);
    expect(await reserved()).toBeLessThanOrEqual(320 * MiB);
  }, 300_000);
});
