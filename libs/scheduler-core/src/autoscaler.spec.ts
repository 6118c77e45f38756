import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentDirectory } from './agent-directory.js';
import { Autoscaler } from './autoscaler.js';
import { FunctionCache } from './function-cache.js';
import { FunctionRegistry } from './function-registry.js';
import { LoadTracker } from './load-tracker.js';
import { loadSecretKey, SecretStore } from './secret-store.js';
import { agentInfo, FakeAgents, registerAgent, tempDir, testRedis } from './testing/fixtures.js';

const key = 'openfaas-fn/fn';
const GiB = 1024 ** 3;

describe(Autoscaler.name, () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  let tmp: ReturnType<typeof tempDir>;
  let registry: FunctionRegistry;
  let cache: FunctionCache;
  let directory: AgentDirectory;
  let agents: FakeAgents;
  let tracker: LoadTracker;
  let scaler: Autoscaler;

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
    scaler = new Autoscaler(cache, directory, agents, tracker, registry, {
      stemcellsPerRuntime: 3,
      scaleToZeroMs: 1000,
    });
  });
  afterEach(async () => {
    await env?.cleanup();
    tmp?.cleanup();
  });

  async function setup(labels: Record<string, string>, onAgents: Record<string, number>) {
    await registry.deploy({ service: 'fn', image: 'x', labels }, 'create');
    let free = 4;
    for (const [id, instances] of Object.entries(onAgents)) {
      const functions = instances ? { [key]: { instances, idle: instances, inflight: 0 } } : {};
      await registerAgent(
        env.redis,
        env.keys,
        agentInfo(id, { functions, free: { memoryBytes: free-- * GiB } }),
      );
    }
    await directory.poll();
    await cache.reloadAll();
  }

  it('pre-warms min scale instances spread over the agents with the most free memory', async () => {
    await setup({ 'com.openfaas.scale.min': '3' }, { a: 0, b: 0 });
    const [d] = await scaler.reconcile();
    expect(d).toMatchObject({ key, instances: 0, desired: 3, action: 'scale-out' });
    const ensures = agents.of('ensure').map((c) => [c.agent, c.req.instances]);
    expect(ensures.sort()).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
  });

  it('scales out while demand exceeds capacity, capped at max scale', async () => {
    await setup({ 'com.openfaas.scale.max': '4' }, { a: 1 });
    for (let i = 0; i < 10; i++) tracker.acquire(key, 'a');
    const [d] = await scaler.reconcile();
    expect(d).toMatchObject({ instances: 1, desired: 4, action: 'scale-out' });
    expect(agents.of('ensure').map((c) => c.req.instances)).toEqual([4]);
  });

  it('honors fn.scale replicas as a floor', async () => {
    await setup({}, { a: 0 });
    await registry.setReplicas('openfaas-fn', 'fn', 2);
    await cache.reloadAll();
    expect((await scaler.reconcile())[0]).toMatchObject({ desired: 2, action: 'scale-out' });
  });

  it('scales to zero (retire all versions) after the idle period when the function opts in', async () => {
    await setup({ 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1s' }, { a: 1 });
    tracker.acquire(key, 'a');
    tracker.release(key, 'a');
    expect((await scaler.reconcile())[0]?.action).toBe('none');
    const later = Date.now() + 1500;
    expect((await scaler.reconcile(later))[0]?.action).toBe('scale-to-zero');
    expect(agents.of('retire').at(-1)).toMatchObject({
      agent: 'a',
      req: { namespace: 'openfaas-fn', name: 'fn' },
    });
    expect(agents.of('retire').at(-1)?.req.keepVersion).toBeUndefined();
  });

  it('keeps min scale (1 by default) up however long idle, unless scale to zero is on', async () => {
    await setup({}, { a: 1 });
    const much = Date.now() + 3_600_000;
    expect((await scaler.reconcile(much))[0]).toMatchObject({ desired: 1, action: 'none' });
    const platformWide = new Autoscaler(cache, directory, agents, tracker, registry, {
      stemcellsPerRuntime: 3,
      scaleToZeroMs: 1000,
      scaleToZero: true,
    });
    expect((await platformWide.reconcile(much))[0]).toMatchObject({ desired: 0, action: 'scale-to-zero' });
  });

  it('starts min scale on deploy with no call', async () => {
    await setup({}, { a: 0 });
    expect((await scaler.reconcile())[0]).toMatchObject({ instances: 0, desired: 1, action: 'scale-out' });
    expect(agents.of('ensure').map((c) => [c.agent, c.req.instances])).toEqual([['a', 1]]);
  });

  it('holds a function scaled to 0 at zero until its next call, then returns to min scale', async () => {
    await setup({}, { a: 0 });
    await registry.setReplicas('openfaas-fn', 'fn', 0);
    await cache.reloadAll();
    expect((await scaler.reconcile())[0]).toMatchObject({ desired: 0, action: 'none' });
    await new Promise((r) => setTimeout(r, 5));
    tracker.acquire(key, 'a');
    tracker.release(key, 'a');
    expect((await scaler.reconcile(Date.now() + 10))[0]).toMatchObject({ desired: 1, action: 'scale-out' });
  });

  it('asks the agents with the most instances to retire their idle surplus over the desired count', async () => {
    await setup({ 'com.openfaas.scale.max': '4' }, { a: 3, b: 1 });
    const [d] = await scaler.reconcile();
    expect(d).toMatchObject({ instances: 4, desired: 1, action: 'scale-in' });
    const scaleIns = agents.of('retire').filter((c) => c.req.keep !== undefined);
    // 4 down to 1: a 3→2→1, then the tie at 1 and 1 goes to the first.
    expect(scaleIns.map((c) => [c.agent, c.req.keep, c.req.idleMs])).toEqual([['a', 0, 10_000]]);
    // Asked once per idle period, not on every reconcile.
    expect((await scaler.reconcile())[0]?.action).toBe('none');
  });

  it('backs off an ensure that failed instead of repeating it on every reconcile', async () => {
    await setup({}, { a: 0 });
    let ensures = 0;
    const failing = {
      get: (a: Parameters<FakeAgents['get']>[0]) => ({
        ...agents.get(a),
        ensure: async () => {
          ensures++;
          throw new Error('image broken');
        },
      }),
      drop: () => {},
      closeAll: () => {},
    };
    const s = new Autoscaler(cache, directory, failing, tracker, registry, {
      stemcellsPerRuntime: 1,
      scaleToZeroMs: 1000,
    });
    await s.reconcile();
    await new Promise((r) => setTimeout(r, 20));
    await s.reconcile();
    await s.reconcile();
    expect(ensures).toBe(1);
  });

  it('retires old versions after an update and sends stemcell targets', async () => {
    await setup({}, { a: 1 });
    await scaler.reconcile();
    await registry.deploy({ service: 'fn', image: 'y' }, 'update');
    await cache.reloadAll();
    await scaler.reconcile();
    expect(agents.of('retire').map((c) => c.req.keepVersion)).toEqual([1, 2]);
    await scaler.sendTarget(agentInfo('a'));
    expect(agents.of('target')[0]?.req).toEqual({ stemcells: { node: 3, python: 3, exec: 3 } });
  });
});
