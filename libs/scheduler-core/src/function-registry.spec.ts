import { statSync } from 'node:fs';
import path from 'node:path';
import { FloeError } from '@floe/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FunctionRegistry } from './function-registry.js';
import { sha256 } from './function-version.js';
import { loadSecretKey, SecretStore } from './secret-store.js';
import { tempDir, testRedis } from './testing/fixtures.js';

const code = Buffer.from('fake zip bytes').toString('base64');

describe(FunctionRegistry.name, () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  let tmp: ReturnType<typeof tempDir>;
  let registry: FunctionRegistry;
  let secrets: SecretStore;

  beforeEach(async () => {
    env = await testRedis();
    tmp = tempDir();
    secrets = new SecretStore(env.redis, env.keys, loadSecretKey(tmp.dir));
    registry = new FunctionRegistry(env.redis, env.keys, secrets);
  });
  afterEach(async () => {
    await env.cleanup();
    tmp.cleanup();
  });

  it('stores a code deployment as version 1 with defaults, code as a blob, fields echoed as sent', async () => {
    const dep = { service: 'echo', runtime: 'node' as const, handler: 'index.js', code, labels: { a: 'b' } };
    const v = await registry.deploy(dep, 'create');
    expect(v).toMatchObject({
      version: 1,
      namespace: 'openfaas-fn',
      image: 'floe/node:latest',
      memoryBytes: 128 * 1024 ** 2,
      timeoutMs: 30_000,
      maxConcurrency: 1,
      minScale: 1,
      maxScale: 20,
      codeDigest: sha256(Buffer.from(code, 'base64')),
    });
    expect(v.deployment).toEqual({
      service: 'echo',
      runtime: 'node',
      handler: 'index.js',
      labels: { a: 'b' },
    });
    expect(await env.redis.getBuffer(env.keys.code(v.codeDigest ?? ''))).toEqual(Buffer.from(code, 'base64'));
    expect(await registry.namespaces()).toContain('openfaas-fn');
  });

  it('creates immutable versions on update and rolls back to an earlier one', async () => {
    await registry.deploy({ service: 'f', image: 'a:1' }, 'create');
    const v2 = await registry.deploy(
      { service: 'f', image: 'a:2', annotations: { 'com.floe.timeout': '5s' } },
      'update',
    );
    expect(v2.version).toBe(2);
    expect(v2.timeoutMs).toBe(5000);
    await registry.rollback('openfaas-fn', 'f', 1);
    const { version, record } = await registry.get('openfaas-fn', 'f');
    expect(version.image).toBe('a:1');
    expect(record).toMatchObject({ active: 1, latest: 2 });
    expect((await registry.versions('openfaas-fn', 'f')).map((s) => [s.version, s.active])).toEqual([
      [1, true],
      [2, false],
    ]);
    const v3 = await registry.deploy({ service: 'f', image: 'a:3' }, 'update');
    expect(v3.version).toBe(3);
  });

  it('rejects duplicates, unknown functions and bad input with typed errors', async () => {
    await registry.deploy({ service: 'f', image: 'a' }, 'create');
    await expect(registry.deploy({ service: 'f', image: 'a' }, 'create')).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    });
    await expect(registry.deploy({ service: 'g', image: 'a' }, 'update')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(
      registry.deploy({ service: 'g', image: 'a', secrets: ['nope'] }, 'create'),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { field: 'secrets' },
    });
    await expect(registry.rollback('openfaas-fn', 'f', 9)).rejects.toBeInstanceOf(FloeError);
  });

  it('remove deletes versions, stats and unshared code blobs', async () => {
    const v = await registry.deploy({ service: 'f', runtime: 'exec', handler: 'cat', code }, 'create');
    await registry.deploy({ service: 'g', runtime: 'exec', handler: 'cat', code }, 'create');
    await registry.remove('openfaas-fn', 'f');
    expect(await env.redis.exists(env.keys.code(v.codeDigest ?? ''))).toBe(1);
    await registry.remove('openfaas-fn', 'g');
    expect(
      await env.redis.exists(env.keys.code(v.codeDigest ?? ''), env.keys.versions('openfaas-fn', 'f')),
    ).toBe(0);
    await expect(registry.get('openfaas-fn', 'f')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await registry.list('openfaas-fn')).toEqual([]);
  });

  it('hashes the api key and never echoes it', async () => {
    const v = await registry.deploy(
      { service: 'f', image: 'a', annotations: { 'com.floe.api-key': 's3cret' } },
      'create',
    );
    expect(v.apiKeyHash).toBe(sha256('s3cret'));
    expect(JSON.stringify(await registry.get('openfaas-fn', 'f'))).not.toContain('s3cret');
  });
});

describe(SecretStore.name, () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  let tmp: ReturnType<typeof tempDir>;

  beforeEach(async () => {
    env = await testRedis();
    tmp = tempDir();
  });
  afterEach(async () => {
    await env.cleanup();
    tmp.cleanup();
  });

  it('encrypts at rest with a key file of mode 0600 and decrypts for agents', async () => {
    const key = loadSecretKey(tmp.dir);
    expect(statSync(path.join(tmp.dir, 'scheduler', 'secrets.key')).mode & 0o777).toBe(0o600);
    expect(loadSecretKey(tmp.dir)).toEqual(key);
    const store = new SecretStore(env.redis, env.keys, key);
    await store.put({ namespace: 'openfaas-fn', name: 'db', value: 'hunter2', mode: 'create' });
    await store.put({
      namespace: 'openfaas-fn',
      name: 'raw',
      rawValue: Buffer.from('bytes').toString('base64'),
      mode: 'create',
    });
    const stored = await env.redis.hget(env.keys.secrets('openfaas-fn'), 'db');
    expect(stored).not.toContain('hunter2');
    expect(Buffer.from(stored ?? '', 'base64').toString()).not.toContain('hunter2');
    expect(await store.list('openfaas-fn')).toEqual([
      { name: 'db', namespace: 'openfaas-fn' },
      { name: 'raw', namespace: 'openfaas-fn' },
    ]);
    expect(await store.values('openfaas-fn', ['db', 'raw'])).toEqual({ db: 'hunter2', raw: 'bytes' });
    await expect(
      store.put({ namespace: 'openfaas-fn', name: 'db', value: 'x', mode: 'create' }),
    ).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    });
    await store.put({ namespace: 'openfaas-fn', name: 'db', value: 'new', mode: 'update' });
    expect(await store.values('openfaas-fn', ['db'])).toEqual({ db: 'new' });
    await store.remove('openfaas-fn', 'db');
    await expect(store.values('openfaas-fn', ['db'])).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      store.put({ namespace: 'openfaas-fn', name: 'zz', mode: 'update', value: 'x' }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
