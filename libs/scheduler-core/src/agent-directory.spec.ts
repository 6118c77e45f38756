import type { AgentHeartbeat } from '@floe/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentDirectory } from './agent-directory.js';
import { agentInfo, testRedis } from './testing/fixtures.js';

// Real Redis: the directory's reads are what keeps a poll small with thousands of functions.
describe(AgentDirectory.name, () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  let dir: AgentDirectory;

  beforeEach(async () => {
    env = await testRedis();
    dir = new AgentDirectory(env.redis, env.keys, { pollMs: 60_000 });
  });
  afterEach(async () => {
    dir.stop();
    await env.cleanup();
  });

  async function beat(rev: number, functions?: Record<string, number>) {
    const { functions: _f, ...info } = agentInfo('a');
    const hb: AgentHeartbeat = { ...info, functionsRev: rev, heartbeatAt: Date.now() };
    const multi = env.redis.multi();
    if (functions) {
      const map = Object.fromEntries(
        Object.entries(functions).map(([k, n]) => [k, { instances: n, idle: n, inflight: 0 }]),
      );
      multi.set(env.keys.agentFunctions('a'), JSON.stringify(map), 'PX', 5000);
    }
    await multi.set(env.keys.agent('a'), JSON.stringify(hb), 'PX', 5000).sadd(env.keys.agentsSet, 'a').exec();
  }

  it("reads an agent's function counts from their own key, again only when the revision moved", async () => {
    await beat(1, { 'ns/f': 2 });
    await dir.poll();
    expect(dir.get('a')?.functions).toEqual({ 'ns/f': { instances: 2, idle: 2, inflight: 0 } });
    // Same revision: the counts key is not read again (here it changed behind the revision's back).
    await env.redis.set(env.keys.agentFunctions('a'), JSON.stringify({}), 'PX', 5000);
    await beat(1);
    await dir.poll();
    expect(dir.get('a')?.functions['ns/f']?.instances).toBe(2);
    await beat(2, { 'ns/f': 3, 'ns/g': 1 });
    await dir.poll();
    expect(Object.keys(dir.get('a')?.functions ?? {})).toEqual(['ns/f', 'ns/g']);
    expect(dir.get('a')?.functions['ns/f']?.instances).toBe(3);
  });

  it('still takes counts carried inline in the beat', async () => {
    const info = agentInfo('a', { functions: { 'ns/f': { instances: 1, idle: 1, inflight: 0 } } });
    await env.redis
      .multi()
      .set(env.keys.agent('a'), JSON.stringify(info))
      .sadd(env.keys.agentsSet, 'a')
      .exec();
    await dir.poll();
    expect(dir.get('a')?.functions['ns/f']?.instances).toBe(1);
  });

  it('counts an instance a call found until a newer heartbeat reports the counts', async () => {
    await beat(1, { 'ns/g': 1 });
    await dir.poll();
    dir.noteInstance('a', 'ns/f');
    expect(dir.get('a')?.functions['ns/f']).toMatchObject({ instances: 1, idle: 1, ready: 1 });
    dir.noteInstance('a', 'ns/h');
    expect(dir.get('a')?.functions['ns/h']?.instances).toBe(1);
    expect(dir.get('a')?.functions['ns/f']?.instances).toBe(1);
    // The same heartbeat polled again: older than the call, so the instance stays counted.
    await dir.poll();
    expect(dir.agents()[0]?.functions['ns/f']?.instances).toBe(1);
    expect(dir.get('a')?.functions['ns/g']?.instances).toBe(1);
    await new Promise((r) => setTimeout(r, 2));
    // A newer heartbeat of the same revision: the agent's own counts again, with nothing added.
    await beat(1);
    await dir.poll();
    expect(dir.get('a')?.functions).toEqual({ 'ns/g': { instances: 1, idle: 1, inflight: 0 } });
  });

  it('adds nothing for a function the heartbeat already counts, or an agent it does not know', async () => {
    await beat(1, { 'ns/f': 2 });
    await dir.poll();
    const before = dir.get('a');
    dir.noteInstance('a', 'ns/f');
    dir.noteInstance('nobody', 'ns/f');
    expect(dir.get('a')).toBe(before);
    expect(dir.get('nobody')).toBeUndefined();
  });
});
