import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Scheduler, type SchedulerSettings } from './scheduler.js';
import {
  agentInfo,
  FakeAgents,
  invokeRequest,
  registerAgent,
  tempDir,
  testRedis,
} from './testing/fixtures.js';

describe(Scheduler.name, () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  let tmp: ReturnType<typeof tempDir>;
  const running: Scheduler[] = [];

  beforeEach(async () => {
    env = await testRedis();
    tmp = tempDir();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
    await env?.cleanup();
    tmp?.cleanup();
  });

  async function replica(id: string, agents = new FakeAgents()): Promise<Scheduler> {
    const settings: SchedulerSettings = {
      id,
      redisPrefix: env.prefix,
      stateDir: tmp.dir,
      agentTimeoutMs: 1000,
      queueWaitMs: 200,
      queueMax: 100,
      idleScaleToZeroMs: 60_000,
      stemcellsPerRuntime: 1,
      asyncMaxAttempts: 2,
      asyncWorkers: 2,
      asyncClaimIdleMs: 1000,
      asyncBackoffBaseMs: 10,
      asyncBackoffMaxMs: 50,
      agentPollMs: 100,
      leaderTtlMs: 600,
      reconcileMs: 100,
      version: 'test',
    };
    const s = new Scheduler(settings, () => env.connect(), agents);
    await s.start();
    running.push(s);
    return s;
  }

  it('runs several replicas: one leader, leadership moves when it stops, every replica places calls', async () => {
    await registerAgent(env.redis, env.keys, agentInfo('a'));
    const one = await replica('one');
    const two = await replica('two');
    expect([one.lease.isLeader, two.lease.isLeader]).toEqual([true, false]);
    await one.deploy({ service: 'echo', image: 'e:1' }, 'create');
    await expect.poll(() => two.cache.get('openfaas-fn', 'echo')?.version.version, { timeout: 2000 }).toBe(1);
    expect((await two.invoke(invokeRequest('echo'))).status).toBe(200);
    expect((await one.invoke(invokeRequest('echo'))).status).toBe(200);
    await one.stop();
    running.splice(running.indexOf(one), 1);
    await expect.poll(() => two.lease.isLeader, { timeout: 2000 }).toBe(true);
    // Invocation counts from both replicas land in Redis.
    await expect
      .poll(async () => (await two.get({ namespace: 'openfaas-fn', name: 'echo' })).invocationCount, {
        timeout: 3000,
      })
      .toBe(2);
  });

  it('scale to 0 retires everywhere; scale to N asks the leader to ensure N', async () => {
    const agents = new FakeAgents();
    await registerAgent(env.redis, env.keys, agentInfo('a'));
    const s = await replica('solo', agents);
    await s.deploy({ service: 'echo', image: 'e:1' }, 'create');
    await s.scale({ namespace: 'openfaas-fn', name: 'echo', replicas: 2 });
    await expect.poll(() => agents.of('ensure').at(-1)?.req.instances, { timeout: 3000 }).toBe(2);
    const st = await s.scale({ namespace: 'openfaas-fn', name: 'echo', replicas: 0 });
    expect(st.replicas).toBe(0);
    expect(agents.of('retire').some((c) => c.agent === 'a' && c.req.keepVersion === undefined)).toBe(true);
    await expect(s.scale({ namespace: 'openfaas-fn', name: 'echo', replicas: -1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
