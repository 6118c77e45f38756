import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaderLease } from './leader-lease.js';
import { testRedis } from './testing/fixtures.js';

describe(LeaderLease.name, () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  beforeEach(async () => {
    env = await testRedis();
  });
  afterEach(async () => {
    await env?.cleanup();
  });

  it('elects one leader; another takes over after it stops or its lease expires', async () => {
    const a = new LeaderLease(env.redis, env.keys.leader, 'a', 600);
    const b = new LeaderLease(env.redis, env.keys.leader, 'b', 600);
    await a.start();
    await b.start();
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    await a.stop();
    await b.tick();
    expect(b.isLeader).toBe(true);
    // b dies without releasing: a waits for the lease to expire.
    await b.stop().catch(() => {});
    await env.redis.set(env.keys.leader, 'b', 'PX', 300);
    const c = new LeaderLease(env.redis, env.keys.leader, 'c', 600);
    await c.tick();
    expect(c.isLeader).toBe(false);
    await new Promise((r) => setTimeout(r, 350));
    await c.tick();
    expect(c.isLeader).toBe(true);
    // Renewal never extends someone else's lease.
    await env.redis.set(env.keys.leader, 'x');
    await c.tick();
    expect(c.isLeader).toBe(false);
    await c.stop();
    expect(await env.redis.get(env.keys.leader)).toBe('x');
  });
});
