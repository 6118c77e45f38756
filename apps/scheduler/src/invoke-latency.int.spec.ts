import { type InvokeResponse, redisKeys, SchedulerPatterns } from '@floe/contracts';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeAgent } from './testing/fake-agent.js';
import {
  bootScheduler,
  freePort,
  rpcClient,
  schedulerEnv,
  tempState,
  uniquePrefix,
} from './testing/harness.js';

const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL)
  throw new Error('REDIS_URL is not set: the scheduler integration tests need a real redis-server');

describe('warm invoke path (integration)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('serves 1000 warm invokes without a Redis command on this function', async () => {
    const prefix = uniquePrefix();
    const state = tempState();
    cleanups.push(state.cleanup);
    const agent = new FakeAgent(
      'agent-fast',
      await freePort(),
      REDIS_URL as string,
      prefix,
      await freePort(),
    );
    await agent.start();
    cleanups.push(() => agent.stop());
    const env = await schedulerEnv(REDIS_URL as string, prefix, state.dir);
    const { app, rpcPort } = await bootScheduler(env);
    const rpc = rpcClient(rpcPort, undefined, env.FLOE_SCHEDULER_INVOKE);
    cleanups.push(async () => {
      rpc.close();
      await app.close();
      const redis = new Redis(REDIS_URL as string);
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    });
    await rpc.call(SchedulerPatterns.deploy, { service: 'echo', image: 'echo:1' });
    const req = (i: number) => ({
      callId: `c${i}`,
      function: 'echo',
      namespace: 'openfaas-fn',
      method: 'GET',
      path: '/',
      query: '',
      headers: {},
      body: Buffer.alloc(0),
    });
    for (let i = 0; i < 200; i++) await rpc.call<InvokeResponse>(SchedulerPatterns.invoke, req(i));
    // Every command Redis sees that names this function's keys, while the timed calls run.
    const keys = redisKeys(prefix);
    const watched = [keys.functions('openfaas-fn'), keys.versions('openfaas-fn', 'echo'), `${prefix}:code:`];
    const seen: string[] = [];
    const monitor = await new Redis(REDIS_URL as string).monitor();
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((a) => watched.some((k) => a.startsWith(k)))) seen.push(args.join(' '));
    });
    cleanups.push(() => monitor.disconnect());
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t = process.hrtime.bigint();
      await rpc.call<InvokeResponse>(SchedulerPatterns.invoke, req(i));
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((a, b) => a - b);
    const p50 = times[500] ?? 0;
    const p99 = times[990] ?? 0;
    console.log(
      `test client→scheduler→fake agent (no gateway, no container) over Nest TCP: p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms`,
    );
    // The figures are for reading; `npm run bench` judges speed. What this test holds is that
    // a warm call finds its function in the scheduler's cache, not in Redis.
    const settle = () => new Promise((r) => setTimeout(r, 100));
    await settle();
    expect(seen).toEqual([]);
    // The monitor does see such a command when one is sent.
    const probe = new Redis(REDIS_URL as string);
    await probe.hgetall(keys.versions('openfaas-fn', 'echo'));
    probe.disconnect();
    await settle();
    expect(seen).toHaveLength(1);
  }, 60_000);
});
