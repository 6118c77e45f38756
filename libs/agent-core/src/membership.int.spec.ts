import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type AgentInfo, redisKeys } from '@floe/contracts';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JS helper shared with npm start
import { startRedis } from '../../../scripts/lib/redis.mjs';
import { Membership } from './membership.js';

// A Redis of this file's own (on a free port), so the outage case can stop and restart it.
const hasRedis = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasRedis) console.warn('[agent-core] SKIP membership: no redis-server on PATH (npm test installs it)');

describe.skipIf(!hasRedis)(`${Membership.name} (real Redis)`, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-membership-'));
  const prefix = `floe-test-${path.basename(dir).slice(-6)}`;
  const keys = redisKeys(prefix);
  let server: { child: ChildProcess; port: number; url: string };
  let redis: Redis;
  let probe: Redis;
  const started: Membership[] = [];

  const info = (id: string): AgentInfo => ({
    id,
    rpc: '127.0.0.1:1',
    http: '127.0.0.1:2',
    labels: {},
    capacity: { memoryBytes: 1 << 30, cpus: 2 },
    free: { memoryBytes: 1 << 29 },
    stemcells: {},
    functions: {},
    startedAt: 1,
    heartbeatAt: 0,
  });
  function member(id: string, intervalMs: number, ttlMs: number, onBeat?: (ok: boolean) => void) {
    const m = new Membership(redis, () => info(id), { intervalMs, ttlMs, prefix, onBeat });
    started.push(m);
    return m;
  }
  const stored = async (id: string) => {
    const raw = await probe.get(keys.agent(id));
    return raw ? (JSON.parse(raw) as AgentInfo) : null;
  };

  beforeAll(async () => {
    server = await startRedis({ dir: path.join(dir, 'redis'), persist: false });
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    probe = new Redis(server.url);
  });
  afterEach(async () => {
    for (const m of started.splice(0)) await m.stop().catch(() => {});
  });
  afterAll(async () => {
    redis?.disconnect();
    probe?.disconnect();
    server?.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('start() stores the agent info with the TTL and joins the agents set', async () => {
    const before = Date.now();
    await member('a1', 60_000, 5000).start();
    const got = await stored('a1');
    // The beat carries counts and a revision, not the per-function map (that has its own key).
    const { functions: _perFunction, ...beat } = info('a1');
    expect(got).toMatchObject({ ...beat, heartbeatAt: expect.any(Number) });
    expect(got).not.toHaveProperty('functions');
    expect(got!.heartbeatAt).toBeGreaterThanOrEqual(before);
    const ttl = await probe.pttl(keys.agent('a1'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5000);
    expect(await probe.smembers(keys.agentsSet)).toContain('a1');
  });

  it('each heartbeat renews the TTL, so a live agent outlasts it many times over', {
    timeout: 60_000,
  }, async () => {
    const beats: boolean[] = [];
    await member('a2', 100, 1000, (ok) => beats.push(ok)).start();
    const first = (await stored('a2'))!.heartbeatAt;
    // Counted in beats, not by a clock: 25 beats span 2.5 TTLs at the configured rate.
    await expect.poll(() => beats.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(25);
    expect(beats.every(Boolean)).toBe(true);
    const now = await stored('a2');
    expect(now).not.toBeNull();
    expect(now!.heartbeatAt).toBeGreaterThan(first);
    expect(await probe.pttl(keys.agent('a2'))).toBeGreaterThan(0);
  });

  it('an agent that stops beating (dies) drops out by itself once its TTL ends', async () => {
    // One beat and no timer: what a kill -9 leaves.
    await member('a3', 60_000, 300).beat();
    expect(await stored('a3')).not.toBeNull();
    await expect.poll(() => stored('a3'), { timeout: 20_000, interval: 50 }).toBeNull();
  });

  it('stop() removes the agent at once, key and set entry', async () => {
    const m = member('a4', 60_000, 60_000);
    await m.start();
    await m.stop();
    expect(await stored('a4')).toBeNull();
    expect(await probe.smembers(keys.agentsSet)).not.toContain('a4');
  });

  it('survives Redis going away (failed beats reported) and beats again once it returns', async () => {
    const own = await startRedis({ dir: path.join(dir, 'redis-outage'), persist: false });
    const client = new Redis(own.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    client.on('error', () => {}); // refused connections are the point of this case
    const beats: boolean[] = [];
    const m = new Membership(client, () => info('a5'), {
      intervalMs: 50,
      ttlMs: 5000,
      prefix,
      onBeat: (ok) => beats.push(ok),
    });
    let restarted: typeof own | undefined;
    try {
      await m.start();
      own.child.kill('SIGKILL');
      await new Promise((r) => own.child.once('exit', r));
      await expect.poll(() => beats.includes(false), { timeout: 20_000 }).toBe(true);
      restarted = await startRedis({ dir: path.join(dir, 'redis-outage'), port: own.port, persist: false });
      const from = beats.length;
      await expect.poll(() => beats.slice(from).includes(true), { timeout: 20_000 }).toBe(true);
      const check = new Redis(restarted.url);
      try {
        expect(await check.get(keys.agent('a5'))).not.toBeNull();
      } finally {
        check.disconnect();
      }
    } finally {
      await m.stop().catch(() => {});
      client.disconnect();
      own.child.kill('SIGKILL');
      restarted?.child.kill('SIGTERM');
    }
  });
});
