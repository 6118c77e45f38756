import { randomBytes } from 'node:crypto';
import { type AgentHeartbeat, type AgentInfo, redisKeys } from '@floe/contracts';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Membership } from './membership.js';

const url = process.env.REDIS_URL;
if (!url) console.warn('membership.spec: skipped, REDIS_URL is not set (npm test starts a redis-server)');

// Real Redis: what matters is what a beat writes, and how much.
describe.skipIf(!url)(Membership.name, () => {
  const prefix = `floe-test-${randomBytes(4).toString('hex')}`;
  const keys = redisKeys(prefix);
  let redis: Redis;
  let functions: AgentInfo['functions'];
  const info = (): AgentInfo => ({
    id: 'a',
    rpc: '127.0.0.1:1',
    http: '127.0.0.1:2',
    labels: {},
    capacity: { memoryBytes: 1, cpus: 1 },
    free: { memoryBytes: 1 },
    stemcells: {},
    functions,
    startedAt: 1,
    heartbeatAt: 0,
  });

  beforeEach(() => {
    redis = new Redis(url as string, { maxRetriesPerRequest: 1 });
    functions = { 'ns/f': { instances: 1, idle: 1, inflight: 0 } };
  });
  afterEach(async () => {
    const found = await redis.keys(`${prefix}:*`);
    if (found.length) await redis.del(...found);
    redis.disconnect();
  });

  const read = async () => JSON.parse((await redis.get(keys.agent('a'))) ?? 'null') as AgentHeartbeat;

  it('beats without the function map, which it rewrites only when it changed', async () => {
    const m = new Membership(redis, info, { intervalMs: 60_000, ttlMs: 5000, prefix });
    await m.beat();
    const first = await read();
    expect(first.functions).toBeUndefined();
    expect(first.functionsRev).toBe(1);
    expect(JSON.parse((await redis.get(keys.agentFunctions('a'))) ?? '{}')).toEqual(functions);
    await m.beat();
    expect((await read()).functionsRev).toBe(1);
    functions = { ...functions, 'ns/g': { instances: 2, idle: 0, inflight: 2 } };
    await m.beat();
    expect((await read()).functionsRev).toBe(2);
    expect(Object.keys(JSON.parse((await redis.get(keys.agentFunctions('a'))) ?? '{}'))).toEqual([
      'ns/f',
      'ns/g',
    ]);
    // Lost (Redis restarted): written again, under a new revision.
    await redis.del(keys.agentFunctions('a'));
    await m.beat();
    await m.beat();
    expect((await read()).functionsRev).toBe(3);
    expect(await redis.get(keys.agentFunctions('a'))).not.toBeNull();
    await m.stop();
    expect(await redis.exists(keys.agent('a'), keys.agentFunctions('a'))).toBe(0);
  });
});
