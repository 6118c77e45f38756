import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FunctionRegistry } from './function-registry.js';
import { measureRedisFootprint } from './redis-footprint.js';
import { loadSecretKey, SecretStore } from './secret-store.js';
import { tempDir, testRedis } from './testing/fixtures.js';

// Real Redis (REDIS_URL): paging and the footprint sample are Redis commands, not logic to mock.
describe('function registry at scale', () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  let tmp: ReturnType<typeof tempDir>;
  let registry: FunctionRegistry;

  beforeEach(async () => {
    env = await testRedis();
    tmp = tempDir();
    registry = new FunctionRegistry(
      env.redis,
      env.keys,
      new SecretStore(env.redis, env.keys, loadSecretKey(tmp.dir)),
    );
  });
  afterEach(async () => {
    await env.cleanup();
    tmp.cleanup();
  });

  const deploy = async (n: number) => {
    const names = Array.from({ length: n }, (_, i) => `fn-${String(i).padStart(3, '0')}`);
    for (const service of names)
      await registry.deploy({ service, runtime: 'exec', envProcess: 'cat' }, 'create');
    return names;
  };

  it('pages through every function by name, each once, with no cursor after the last page', async () => {
    const names = await deploy(25);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await registry.page('openfaas-fn', 10, cursor);
      expect(page.entries.length).toBeLessThanOrEqual(10);
      seen.push(...page.entries.map((e) => e.record.name));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    expect(pages).toBe(3);
    expect(seen).toEqual(names);
    expect(await registry.page('openfaas-fn', 10, 'zzz')).toEqual({ entries: [] });
  });

  it('starts a page after a cursor that names a function removed meanwhile', async () => {
    await deploy(5);
    await registry.remove('openfaas-fn', 'fn-001');
    const page = await registry.page('openfaas-fn', 2, 'fn-001');
    expect(page.entries.map((e) => e.record.name)).toEqual(['fn-002', 'fn-003']);
    expect(page.nextCursor).toBe('fn-003');
  });

  it("reports each function's Redis memory from a sample of its keys", async () => {
    await deploy(12);
    const f = await measureRedisFootprint(env.redis, env.keys, ['openfaas-fn', 'empty'], 5);
    expect(f.functions).toBe(12);
    expect(f.sampled).toBe(5);
    expect(f.bytesPerFunction).toBeGreaterThan(0);
  });
});
