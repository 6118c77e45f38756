import { FloeError } from '@floe/contracts';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FunctionRegistry } from './function-registry.js';
import { loadSecretKey, SecretStore } from './secret-store.js';
import { tempDir, testRedis } from './testing/fixtures.js';

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
const maybe = <T>(good: fc.Arbitrary<T>) =>
  fc.option(fc.oneof({ weight: 3, arbitrary: good }, fc.anything()));
const deployment = fc.record(
  {
    service: maybe(label),
    namespace: maybe(label),
    runtime: maybe(fc.constantFrom('node', 'python', 'exec', 'image')),
    image: maybe(fc.string({ maxLength: 10 })),
    handler: maybe(fc.string({ maxLength: 10 })),
    code: maybe(fc.oneof(fc.base64String({ maxLength: 40 }), fc.constant(''))),
    limits: maybe(
      fc.record(
        { memory: fc.string({ maxLength: 6 }), cpu: fc.string({ maxLength: 4 }) },
        { requiredKeys: [] },
      ),
    ),
    annotations: maybe(
      fc.dictionary(fc.constantFrom('com.floe.timeout', 'com.floe.api-key'), fc.string({ maxLength: 6 })),
    ),
    secrets: maybe(fc.array(label, { maxLength: 2 })),
  },
  { requiredKeys: [] },
);

describe('FunctionRegistry.deploy (property-based, real Redis)', () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  let tmp: ReturnType<typeof tempDir>;
  let registry: FunctionRegistry;
  beforeAll(async () => {
    env = await testRedis();
    tmp = tempDir();
    registry = new FunctionRegistry(
      env.redis,
      env.keys,
      new SecretStore(env.redis, env.keys, loadSecretKey(tmp.dir)),
    );
  });
  afterAll(async () => {
    await env?.cleanup();
    tmp?.cleanup();
  });

  it('a rejected deployment stores nothing, and every rejection is a typed error', async () => {
    const snapshot = async () => {
      const keys = (await env.redis.keys(`${env.prefix}:*`)).sort();
      const dump = await Promise.all(
        keys.map(async (k) => `${k}=${(await env.redis.dump(k))?.toString('hex')}`),
      );
      return dump;
    };
    await fc.assert(
      fc.asyncProperty(
        deployment,
        fc.constantFrom<'create' | 'update'>('create', 'update'),
        async (dep, mode) => {
          const before = await snapshot();
          try {
            await registry.deploy(dep, mode);
          } catch (e) {
            expect(e).toBeInstanceOf(FloeError);
            expect(await snapshot()).toEqual(before);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
