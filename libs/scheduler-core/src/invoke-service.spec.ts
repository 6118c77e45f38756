import { FloeError } from '@floe/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentDirectory } from './agent-directory.js';
import { UnavailableError } from './errors.js';
import { FunctionCache } from './function-cache.js';
import { FunctionRegistry } from './function-registry.js';
import { InvokeService } from './invoke-service.js';
import { LoadTracker } from './load-tracker.js';
import { metrics } from './metrics.js';
import { loadSecretKey, SecretStore } from './secret-store.js';
import {
  agentInfo,
  FakeAgents,
  invokeRequest,
  registerAgent,
  tempDir,
  testRedis,
} from './testing/fixtures.js';

const key = 'openfaas-fn/echo';

/** What an agent answers for a warm call, released when a test says so. */
const warmResponse = (agentId: string, body: Buffer = Buffer.alloc(0)) => ({
  status: 200,
  headers: {},
  body,
  start: 'warm' as const,
  functionMs: 1,
  agentId,
  instanceId: 'i',
});

describe(InvokeService.name, () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  let tmp: ReturnType<typeof tempDir>;
  let registry: FunctionRegistry;
  let cache: FunctionCache;
  let directory: AgentDirectory;
  let agents: FakeAgents;
  let tracker: LoadTracker;
  let service: InvokeService;

  beforeEach(async () => {
    env = await testRedis();
    tmp = tempDir();
    registry = new FunctionRegistry(
      env.redis,
      env.keys,
      new SecretStore(env.redis, env.keys, loadSecretKey(tmp.dir)),
    );
    cache = new FunctionCache(registry, env.connect(), env.keys);
    directory = new AgentDirectory(env.redis, env.keys, { pollMs: 100 });
    agents = new FakeAgents();
    tracker = new LoadTracker();
    service = new InvokeService(cache, directory, agents, tracker, {
      queueWaitMs: 300,
      queueMax: 10,
      agentTimeoutMs: 1000,
    });
  });
  afterEach(async () => {
    cache?.stop();
    directory?.stop();
    await env?.cleanup();
    tmp?.cleanup();
  });

  async function deploy(extra: Record<string, unknown> = {}) {
    await registry.deploy({ service: 'echo', image: 'echo:1', ...extra }, 'create');
  }

  it('routes to the agent with a warm instance and counts the call', async () => {
    await deploy();
    await registerAgent(env.redis, env.keys, agentInfo('cold-agent', { free: { memoryBytes: 9e9 } }));
    await registerAgent(
      env.redis,
      env.keys,
      agentInfo('warm-agent', { functions: { [key]: { instances: 1, idle: 1, inflight: 0 } } }),
    );
    await directory.poll();
    const res = await service.invoke(invokeRequest('echo'));
    expect(res.agentId).toBe('warm-agent');
    expect(res.body.toString()).toBe('hi');
    expect(agents.of('invoke')[0]?.req.version).toMatchObject({ name: 'echo', version: 1 });
    expect(agents.of('invoke')[0]?.req.request.deadline).toBeGreaterThan(Date.now());
    expect(tracker.drainStats().get(key)?.count).toBe(1);
    expect(tracker.total(key)).toBe(0);
  });

  it('places the direct route on the agent a call just started an instance on, before its heartbeat says so', async () => {
    await deploy();
    await registerAgent(
      env.redis,
      env.keys,
      agentInfo('a', { invoke: '127.0.0.1:1', free: { memoryBytes: 9e9 } }),
    );
    await directory.poll();
    expect((await service.placement({ namespace: 'openfaas-fn', function: 'echo' })).agents).toEqual([]);
    await service.invoke(invokeRequest('echo'));
    const place = await service.placement({ namespace: 'openfaas-fn', function: 'echo' });
    expect(place.agents.map((a) => [a.id, a.slots])).toEqual([['a', 1]]);
    // A poll of the same (older) heartbeat keeps it; the agent's next heartbeat decides.
    await directory.poll();
    expect((await service.placement({ namespace: 'openfaas-fn', function: 'echo' })).agents).toHaveLength(1);
  });

  it('names the one agent for a cold start on the direct route, and none with two agents or no room', async () => {
    await deploy({ labels: { 'com.openfaas.scale.max': '2' } });
    const place = () => service.placement({ namespace: 'openfaas-fn', function: 'echo' });
    await registerAgent(
      env.redis,
      env.keys,
      agentInfo('only', {
        invoke: '127.0.0.1:1',
        invokeSocket: '/s/invoke.sock',
        free: { memoryBytes: 9e9 },
      }),
    );
    await directory.poll();
    expect((await place()).start).toEqual({
      id: 'only',
      invoke: '127.0.0.1:1',
      socket: '/s/invoke.sock',
      slots: 0,
    });
    // Full, with nothing to evict: the scheduler's route queues the call.
    await registerAgent(
      env.redis,
      env.keys,
      agentInfo('only', { invoke: '127.0.0.1:1', free: { memoryBytes: 0 } }),
    );
    await directory.poll();
    expect((await place()).start).toBeUndefined();
    await registerAgent(
      env.redis,
      env.keys,
      agentInfo('other', { invoke: '127.0.0.1:2', free: { memoryBytes: 9e9 } }),
    );
    await directory.poll();
    const p = await place();
    expect(p.agents).toEqual([]);
    expect(p.start).toBeUndefined();
  });

  it('answers NOT_FOUND for an unknown function', async () => {
    await expect(service.invoke(invokeRequest('nope'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('retries once on another agent when the first is unreachable, and suspends the dead one', async () => {
    await deploy();
    await registerAgent(env.redis, env.keys, agentInfo('dead', { free: { memoryBytes: 9e9 } }));
    await registerAgent(env.redis, env.keys, agentInfo('alive', { free: { memoryBytes: 1e9 } }));
    await directory.poll();
    agents.handler = async (id, req) => {
      if (id === 'dead')
        throw new UnavailableError('connect ECONNREFUSED', { details: { connection: true } });
      return {
        status: 200,
        headers: {},
        body: req.request.body,
        start: 'cold',
        functionMs: 1,
        agentId: id,
        instanceId: 'x',
      };
    };
    expect((await service.invoke(invokeRequest('echo'))).agentId).toBe('alive');
    expect(directory.agents().map((a) => a.id)).toEqual(['alive']);
    // Both unreachable: one retry, then UNAVAILABLE.
    agents.handler = async () => {
      throw new UnavailableError('down', { details: { connection: true } });
    };
    await expect(service.invoke(invokeRequest('echo'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('queues while the function is at max scale and busy, then RESOURCE_EXHAUSTED with retry-after', async () => {
    await deploy({ labels: { 'com.openfaas.scale.max': '1' } });
    await registerAgent(
      env.redis,
      env.keys,
      agentInfo('a', { functions: { [key]: { instances: 1, idle: 0, inflight: 0 } } }),
    );
    await directory.poll();
    let release!: () => void;
    agents.handler = (id, req) =>
      new Promise((resolve) => {
        release = () => resolve(warmResponse(id, req.request.body));
      });
    const first = service.invoke(invokeRequest('echo'));
    await new Promise((r) => setTimeout(r, 20));
    // Second call waits for the only slot; freeing it within the wait lets it through.
    const second = service.invoke(invokeRequest('echo'));
    await expect.poll(() => tracker.waitingFor(key), { timeout: 20_000 }).toBe(1);
    release();
    await first;
    await new Promise((r) => setTimeout(r, 20));
    release();
    await expect(second).resolves.toMatchObject({ status: 200 });
    // Now nobody frees the slot: the waiter gives up after queueWaitMs.
    const third = service.invoke(invokeRequest('echo'));
    await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    const err = await service.invoke(invokeRequest('echo')).catch((e) => e);
    expect(err).toBeInstanceOf(FloeError);
    expect(err).toMatchObject({ code: 'RESOURCE_EXHAUSTED', details: { retryAfterSeconds: 1 } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    release();
    await third;
  });

  it('serves queued calls first come, first served: a new call does not overtake a waiting one', async () => {
    await deploy({ labels: { 'com.openfaas.scale.max': '1' } });
    await registerAgent(
      env.redis,
      env.keys,
      agentInfo('a', { functions: { [key]: { instances: 1, idle: 0, inflight: 0 } } }),
    );
    await directory.poll();
    const releases: (() => void)[] = [];
    const served: string[] = [];
    agents.handler = (id, req) =>
      new Promise((resolve) => {
        served.push(req.request.body.toString());
        releases.push(() => resolve(warmResponse(id)));
      });
    const body = (s: string) => ({ ...invokeRequest('echo'), body: Buffer.from(s) });
    const calls = [service.invoke(body('first'))];
    await new Promise((r) => setTimeout(r, 20));
    calls.push(service.invoke(body('waiting')));
    await new Promise((r) => setTimeout(r, 20));
    // The slot frees and, in the same turn, a new call arrives: the waiting call goes first.
    releases.shift()?.();
    calls.push(service.invoke(body('newcomer')));
    await expect.poll(() => served.length).toBe(2);
    expect(served[1]).toBe('waiting');
    releases.shift()?.();
    await expect.poll(() => served.length).toBe(3);
    expect(served[2]).toBe('newcomer');
    releases.shift()?.();
    await Promise.all(calls);
  });

  it('tries the next agent when one answers RESOURCE_EXHAUSTED', async () => {
    await deploy();
    await registerAgent(env.redis, env.keys, agentInfo('full', { free: { memoryBytes: 9e9 } }));
    await registerAgent(env.redis, env.keys, agentInfo('roomy', { free: { memoryBytes: 1e9 } }));
    await directory.poll();
    agents.handler = async (id, req) => {
      if (id === 'full') throw new FloeError('RESOURCE_EXHAUSTED', 'agent full');
      return {
        status: 200,
        headers: {},
        body: req.request.body,
        start: 'cold',
        functionMs: 1,
        agentId: id,
        instanceId: 'x',
      };
    };
    expect((await service.invoke(invokeRequest('echo'))).agentId).toBe('roomy');
  });

  it('enforces the api key: 401 without, 403 wrong, stripped when right', async () => {
    await deploy({ annotations: { 'com.floe.api-key': 'k1' } });
    await registerAgent(env.redis, env.keys, agentInfo('a'));
    await directory.poll();
    await expect(service.invoke(invokeRequest('echo'))).rejects.toMatchObject({
      details: { httpStatus: 401 },
    });
    await expect(
      service.invoke(invokeRequest('echo', { headers: { 'x-api-key': 'no' } })),
    ).rejects.toMatchObject({
      details: { httpStatus: 403 },
    });
    await service.invoke(invokeRequest('echo', { headers: { 'X-Api-Key': 'k1', a: 'b' } }));
    expect(agents.of('invoke').at(-1)?.req.request.headers).toEqual({ a: 'b' });
  });

  it('sees a new version published by another replica through pub/sub without a Redis read per call', async () => {
    await deploy();
    await cache.start();
    await registerAgent(env.redis, env.keys, agentInfo('a'));
    await directory.poll();
    await service.invoke(invokeRequest('echo'));
    await registry.deploy({ service: 'echo', image: 'echo:2' }, 'update');
    await expect.poll(() => cache.get('openfaas-fn', 'echo')?.version.version, { timeout: 2000 }).toBe(2);
    await service.invoke(invokeRequest('echo'));
    expect(agents.of('invoke').at(-1)?.req.version.image).toBe('echo:2');
  });

  it('places for the direct route: agents with warm instances, their slots, whether the function may grow', async () => {
    await deploy({
      annotations: { 'com.floe.max-concurrency': '4' },
      labels: { 'com.openfaas.scale.max': '3' },
    });
    await registerAgent(env.redis, env.keys, agentInfo('empty', { invoke: '127.0.0.1:1' }));
    await registerAgent(
      env.redis,
      env.keys,
      agentInfo('warm', {
        invoke: '127.0.0.1:2',
        invokeSocket: '/run/floe-agent/invoke.sock',
        functions: { [key]: { instances: 2, idle: 1, inflight: 1 } },
      }),
    );
    await directory.poll();
    const direct = async () =>
      (await metrics.placements.get()).values.find((v) => v.labels.result === 'direct')?.value ?? 0;
    const before = await direct();
    const p = await service.placement({ namespace: 'openfaas-fn', function: 'echo' });
    expect(await direct()).toBe(before + 1);
    expect(p.agents).toEqual([
      { id: 'warm', invoke: '127.0.0.1:2', socket: '/run/floe-agent/invoke.sock', slots: 8 },
    ]);
    expect(p.mayGrow).toBe(true);
    expect(p.version.name).toBe('echo');
    expect(p.queueWaitMs).toBe(300);
    await expect(service.placement({ namespace: 'openfaas-fn', function: 'nope' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(agents.calls).toEqual([]);
  });

  it("counts the gateway's direct calls in flight (busy) when it places a call the gateway had no slot for", async () => {
    await deploy({ labels: { 'com.openfaas.scale.max': '2' } });
    await registerAgent(
      env.redis,
      env.keys,
      agentInfo('a', { functions: { [key]: { instances: 1, idle: 0, inflight: 1 } } }),
    );
    await registerAgent(
      env.redis,
      env.keys,
      agentInfo('b', { stemcells: { node: 1 }, free: { memoryBytes: 9e9 } }),
    );
    await directory.poll();
    // The one slot on `a` is the gateway's: the call goes where an instance can start.
    expect((await service.invoke({ ...invokeRequest('echo'), busy: { a: 1 } })).agentId).toBe('b');
    // Without it, the slot on `a` looks free; the agent sees no `busy`.
    expect((await service.invoke(invokeRequest('echo'))).agentId).toBe('a');
    expect(
      agents.calls.every((c) => (c.req as { request: { busy?: unknown } }).request.busy === undefined),
    ).toBe(true);
  });

  it("records the direct route's call counts as its own", async () => {
    service.recordDirect({ calls: { [key]: { count: 3, last: Date.now() }, bad: { count: 1, last: 0 } } });
    expect(tracker.drainStats().get(key)?.count).toBe(3);
    expect(tracker.lastActivity(key)).toBeGreaterThan(0);
  });
});
