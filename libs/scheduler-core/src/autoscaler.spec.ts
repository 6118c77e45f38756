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

  it('scales to zero (retire all versions) after the idle period', async () => {
    await setup({}, { a: 2 });
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
