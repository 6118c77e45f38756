import { execFileSync } from 'node:child_process';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  FrameRpcClient,
  type FunctionStatus,
  type InvokeRequest,
  type InvokeResponse,
  type LogLine,
  SchedulerPatterns,
  type SerializedError,
} from '@floe/contracts';
import type { AgentSummary } from '@floe/scheduler-core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeAgent } from './testing/fake-agent.js';
import {
  bootScheduler,
  freePort,
  OwnRedis,
  rpcClient,
  schedulerEnv,
  spawnScheduler,
  tempState,
  uniquePrefix,
} from './testing/harness.js';

const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL)
  throw new Error('REDIS_URL is not set: the scheduler integration tests need a real redis-server');

function request(fn: string, body: string, headers: Record<string, string> = {}): InvokeRequest {
  return {
    callId: `c-${Math.random().toString(36).slice(2)}`,
    function: fn,
    namespace: 'openfaas-fn',
    method: 'POST',
    path: '/',
    query: '',
    headers,
    body: Buffer.from(body),
  };
}

const text = (r: InvokeResponse) => Buffer.from(r.body).toString();

describe('scheduler app (integration)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function stack(redisUrl = REDIS_URL as string, extra: Record<string, string> = {}) {
    const prefix = uniquePrefix();
    const state = tempState();
    cleanups.push(state.cleanup);
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    cleanups.push(async () => {
      const keys = await redis.keys(`${prefix}:*`).catch(() => [] as string[]);
      if (keys.length) await redis.del(...keys).catch(() => {});
      redis.disconnect();
    });
    const env = await schedulerEnv(redisUrl, prefix, state.dir, extra);
    const agent = async (id: string, fast = true) => {
      const a = new FakeAgent(id, await freePort(), redisUrl, prefix, fast ? await freePort() : undefined);
      await a.start();
      cleanups.push(() => a.stop());
      return a;
    };
    return { prefix, env, redis, agent, state };
  }

  async function inProcess(env: Record<string, string>) {
    const { app, rpcPort } = await bootScheduler(env);
    const rpc = rpcClient(rpcPort, undefined, env.FLOE_SCHEDULER_INVOKE);
    cleanups.push(async () => {
      rpc.close();
      await app.close();
    });
    return rpc;
  }

  it('deploys, lists, routes an invocation to an agent, serves secrets, info, agents and logs', async () => {
    const s = await stack();
    const a1 = await s.agent('agent-one');
    const a2 = await s.agent('agent-two');
    const rpc = await inProcess(s.env);
    await rpc.call(SchedulerPatterns.secretPut, {
      namespace: 'openfaas-fn',
      name: 'token',
      value: 't0p',
      mode: 'create',
    });
    const deployed = await rpc.call<FunctionStatus>(SchedulerPatterns.deploy, {
      service: 'echo',
      image: 'echo:1',
      secrets: ['token'],
      labels: { 'com.openfaas.scale.min': '1' },
    });
    expect(deployed).toMatchObject({ name: 'echo', namespace: 'openfaas-fn', version: 1, image: 'echo:1' });
    const bad = await rpc
      .call(SchedulerPatterns.deploy, { service: 'Nope!' })
      .catch((e: SerializedError) => e);
    expect(bad).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'service' } });

    const res = await rpc.call<InvokeResponse>(SchedulerPatterns.invoke, request('echo', 'ping'));
    expect(res.status).toBe(200);
    expect(text(res)).toMatch(/^agent-(one|two):ping$/);
    const served = [a1, a2].find((a) => a.id === res.agentId);
    expect(served?.invocations[0]?.version).toMatchObject({ name: 'echo', version: 1, secrets: ['token'] });

    // The leader pre-warms min scale and hands out stemcell targets.
    await expect
      .poll(
        async () =>
          (await rpc.call<FunctionStatus>(SchedulerPatterns.get, { namespace: 'openfaas-fn', name: 'echo' }))
            .availableReplicas,
        { timeout: 5000 },
      )
      .toBeGreaterThanOrEqual(1);
    expect(a1.calls.some((c) => c.op === 'target')).toBe(true);

    const values = await rpc.call(SchedulerPatterns.secretValues, {
      namespace: 'openfaas-fn',
      names: ['token'],
    });
    expect(values).toEqual({ token: 't0p' });
    expect(await rpc.call(SchedulerPatterns.secretList, { namespace: 'openfaas-fn' })).toEqual([
      { name: 'token', namespace: 'openfaas-fn' },
    ]);
    await expect
      .poll(
        async () =>
          (await rpc.call<FunctionStatus[]>(SchedulerPatterns.list, { namespace: 'openfaas-fn' }))[0]
            ?.invocationCount,
        { timeout: 3000 },
      )
      .toBe(1);
    expect(await rpc.call(SchedulerPatterns.namespaces, {})).toEqual(['openfaas-fn']);
    expect(await rpc.call(SchedulerPatterns.info, {})).toMatchObject({
      orchestration: 'floe',
      provider: { provider: 'floe', orchestration: 'floe' },
    });
    const agents = await rpc.call<AgentSummary[]>(SchedulerPatterns.agents, {});
    expect(agents.map((a) => a.id).sort()).toEqual(['agent-one', 'agent-two']);
    const logs = await rpc.call<LogLine[]>(SchedulerPatterns.logs, {
      namespace: 'openfaas-fn',
      name: 'echo',
    });
    expect(logs.map((l) => l.text)).toEqual(['hello from agent-one', 'hello from agent-two']);

    const metrics = await (await fetch(`http://${s.env.FLOE_SCHEDULER_HTTP}/metrics`)).text();
    for (const name of [
      'scheduler_placements_total{result="',
      'scheduler_queue_depth',
      'scheduler_async_backlog',
      'scheduler_async_dead_letters',
      'scheduler_is_leader 1',
      'scheduler_replicas{function_name="echo.openfaas-fn"}',
    ]) {
      expect(metrics).toContain(name);
    }

    await rpc.call(SchedulerPatterns.remove, { namespace: 'openfaas-fn', name: 'echo' });
    const gone = await rpc
      .call(SchedulerPatterns.invoke, request('echo', 'x'))
      .catch((e: SerializedError) => e);
    expect(gone).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('serves invoke on its fast path and reaches an agent over the agent fast path', async () => {
    const s = await stack();
    const a = await s.agent('agent-fast', true);
    const rpc = await inProcess(s.env);
    await rpc.call(SchedulerPatterns.deploy, { service: 'echo', image: 'echo:1' });
    const [host, port] = (s.env.FLOE_SCHEDULER_INVOKE as string).split(':');
    const fast = new FrameRpcClient({ host: host as string, port: Number(port) });
    cleanups.push(() => fast.close());
    const res = await fast.call<InvokeResponse>(SchedulerPatterns.invoke, request('echo', 'quick'), 2000);
    expect(text(res)).toBe('agent-fast:quick');
    expect(a.invocations).toHaveLength(1);
    await expect(fast.call(SchedulerPatterns.invoke, request('nope', ''), 2000)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    // The agent dies: the call in flight fails as UNAVAILABLE instead of hanging.
    const inflight = fast
      .call(SchedulerPatterns.invoke, request('echo', 'x', { 'x-delay-ms': '2000' }), 5000)
      .catch((e: SerializedError) => e);
    await new Promise((r) => setTimeout(r, 100));
    await a.crash();
    expect(await inflight).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('describes replicas as OpenFaaS clients read them: ready instances available, 0 at once after a scale to 0', async () => {
    const s = await stack();
    const a = await s.agent('agent-rep');
    const rpc = await inProcess(s.env);
    // Min scale 0: no ensure from the autoscaler rewrites what the fake agent reports below.
    await rpc.call(SchedulerPatterns.deploy, {
      service: 'rep',
      image: 'echo:1',
      labels: { team: 'a', 'com.openfaas.scale.min': '0' },
    });
    // One instance done specializing, one still at it.
    a.functions['openfaas-fn/rep'] = { instances: 2, idle: 1, inflight: 0, ready: 1 };
    await a.beat();
    const get = () =>
      rpc.call<FunctionStatus>(SchedulerPatterns.get, { namespace: 'openfaas-fn', name: 'rep' });
    await expect.poll(async () => (await get()).availableReplicas, { timeout: 5000, interval: 100 }).toBe(1);
    expect(await get()).toMatchObject({ replicas: 2, labels: { team: 'a', faas_function: 'rep' } });
    expect((await get()).labels).toHaveProperty('com.openfaas.scale.min', '0');
    await rpc.call(SchedulerPatterns.scale, { namespace: 'openfaas-fn', name: 'rep', replicas: 0 });
    // The agent's heartbeat still lists both instances; describe already says 0.
    expect(await get()).toMatchObject({ replicas: 0, availableReplicas: 0 });
    // Retired whole: neither a scale-in (keep) nor an old-version sweep (keepVersion).
    const whole = a.calls.filter(
      (c) =>
        c.op === 'retire' &&
        (c.payload as { keep?: number; keepVersion?: number }).keep === undefined &&
        (c.payload as { keepVersion?: number }).keepVersion === undefined,
    );
    expect(whole.length).toBeGreaterThan(0);
  });

  it('moves calls to the other agent when one crashes, and drops the agent once its heartbeat expires', async () => {
    const s = await stack();
    const a = await s.agent('agent-a');
    const b = await s.agent('agent-b');
    const rpc = await inProcess(s.env);
    await rpc.call(SchedulerPatterns.deploy, { service: 'echo', image: 'echo:1' });
    a.functions['openfaas-fn/echo'] = { instances: 1, idle: 1, inflight: 0 };
    b.functions['openfaas-fn/echo'] = { instances: 1, idle: 1, inflight: 0 };
    await Promise.all([a.beat(), b.beat()]);
    await new Promise((r) => setTimeout(r, 700));
    await a.crash();
    // Every call succeeds meanwhile: a placement on the dead agent is retried on the other.
    for (let i = 0; i < 10; i++) {
      const r = await rpc.call<InvokeResponse>(SchedulerPatterns.invoke, request('echo', `n${i}`));
      expect(r.agentId).toBe('agent-b');
    }
    await expect
      .poll(async () => (await rpc.call<AgentSummary[]>(SchedulerPatterns.agents, {})).map((x) => x.id), {
        timeout: 30_000,
        interval: 100,
      })
      .toEqual(['agent-b']);
  }, 60_000);

  it('answers UNAVAILABLE (rather than hanging) while Redis is down and recovers when it returns', async () => {
    const dir = tempState();
    cleanups.push(dir.cleanup);
    const own = new OwnRedis(await freePort(), dir.dir);
    await own.start();
    cleanups.push(() => own.stop());
    const s = await stack(own.url);
    await s.agent('agent-r');
    const rpc = await inProcess(s.env);
    await rpc.call(SchedulerPatterns.deploy, { service: 'echo', image: 'echo:1' });
    expect((await rpc.call<InvokeResponse>(SchedulerPatterns.invoke, request('echo', 'a'))).status).toBe(200);

    await own.stop();
    const err = await rpc
      .call(SchedulerPatterns.list, { namespace: 'openfaas-fn' })
      .catch((e: SerializedError) => e);
    expect(err).toMatchObject({ code: 'UNAVAILABLE' });
    // The hot path needs no Redis: a cached function on a known agent still answers.
    expect((await rpc.call<InvokeResponse>(SchedulerPatterns.invoke, request('echo', 'b'))).status).toBe(200);

    await own.start();
    await expect
      .poll(
        async () =>
          (
            await rpc
              .call<FunctionStatus[]>(SchedulerPatterns.list, { namespace: 'openfaas-fn' })
              .catch(() => [])
          ).map((f) => f.name),
        { timeout: 10_000, interval: 200 },
      )
      .toEqual(['echo']);
  }, 30_000);

  describe('durable async calls', () => {
    beforeAll(() => {
      execFileSync('npx', ['tsc', '-b', path.resolve(import.meta.dirname, '..')], { stdio: 'inherit' });
    }, 120_000);

    it('completes an async call accepted before the scheduler was killed with SIGKILL mid-call', async () => {
      const received: IncomingHttpHeaders[] = [];
      const bodies: string[] = [];
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          received.push(req.headers);
          bodies.push(Buffer.concat(chunks).toString());
          res.end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      cleanups.push(() => void server.close());
      const callbackUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/done`;

      const s = await stack(REDIS_URL, { FLOE_ASYNC_CLAIM_IDLE_MS: '1000', FLOE_ASYNC_BACKOFF_MS: '50' });
      const agent = await s.agent('agent-async');
      let child = spawnScheduler(s.env);
      cleanups.push(() => void child.kill('SIGKILL'));
      const rpc = rpcClient(
        Number(s.env.FLOE_SCHEDULER_RPC?.split(':')[1]),
        undefined,
        s.env.FLOE_SCHEDULER_INVOKE,
      );
      cleanups.push(() => rpc.close());
      await expect
        .poll(() => rpc.call(SchedulerPatterns.health, {}, 500).catch(() => undefined), { timeout: 10_000 })
        .toBeTruthy();
      await rpc.call(SchedulerPatterns.deploy, { service: 'slow', image: 'slow:1' });
      const { callId } = await rpc.call<{ callId: string }>(SchedulerPatterns.enqueue, {
        request: request('slow', 'work', { 'x-delay-ms': '1500' }),
        callbackUrl,
      });
      await expect.poll(() => agent.invocations.length, { timeout: 5000 }).toBe(1);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(received).toEqual([]);

      rpc.close();
      child = spawnScheduler(s.env);
      await expect.poll(() => received.length, { timeout: 15_000, interval: 100 }).toBe(1);
      expect(received[0]?.['x-call-id']).toBe(callId);
      expect(received[0]?.['x-function-status']).toBe('200');
      expect(bodies[0]).toBe('agent-async:work');
      expect(agent.invocations.length).toBe(2);
      await expect.poll(() => s.redis.xlen(`${s.prefix}:async`)).toBe(0);
    }, 60_000);
  });
});
