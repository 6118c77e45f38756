import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FloeError } from '@floe/contracts';
import { depsKey } from '@floe/overlay-snapshots';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentDirectory } from './agent-directory.js';
import { builderFor, checkBuildId, DepsBuilds } from './deps-builds.js';
import { FunctionRegistry } from './function-registry.js';
import { loadSecretKey, SecretStore } from './secret-store.js';
import { agentInfo, FakeAgents, tempDir, testRedis } from './testing/fixtures.js';

describe(builderFor.name, () => {
  const agents = ['a', 'b', 'c', 'd'].map((id) => agentInfo(id));

  it('sends one key to the same agent whatever the order agents are listed in', () => {
    const key = depsKey('node', '{}');
    const chosen = builderFor(key, agents)!.id;
    expect(builderFor(key, [...agents].reverse())!.id).toBe(chosen);
    expect(
      builderFor(
        key,
        agents.filter((a) => a.id !== chosen),
      )!.id,
    ).not.toBe(chosen);
  });

  it('spreads different keys over the agents, and has none to offer without agents', () => {
    const ids = new Set(
      Array.from({ length: 40 }, (_, i) => builderFor(depsKey('node', `${i}`), agents)!.id),
    );
    expect(ids.size).toBeGreaterThan(1);
    expect(builderFor('k', [])).toBeUndefined();
  });
});

describe(checkBuildId.name, () => {
  it('takes an opaque token, nothing, or refuses naming the field', () => {
    expect(checkBuildId('AbC_12-xyz9')).toBe('AbC_12-xyz9');
    expect(checkBuildId(undefined)).toBeUndefined();
    expect(checkBuildId('')).toBeUndefined();
    for (const bad of ['short', 'a/../../b-long', 7, 'x'.repeat(65)])
      expect(() => checkBuildId(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe(DepsBuilds.name, () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  let tmp: ReturnType<typeof tempDir>;
  let agents: FakeAgents;
  let builds: DepsBuilds;
  const directory = { agents: () => [agentInfo('a1'), agentInfo('a2')] } as unknown as AgentDirectory;
  const pkg = JSON.stringify({ name: 'f', dependencies: { 'is-number': '7.0.0' } });
  const lock = JSON.stringify({ lockfileVersion: 3 });

  function tgz(files: Record<string, string>): string {
    const dir = path.join(tmp.dir, `src-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    for (const [f, body] of Object.entries(files)) writeFileSync(path.join(dir, f), body);
    execFileSync('tar', ['-C', dir, '-czf', `${dir}.tgz`, '.']);
    return readFileSync(`${dir}.tgz`).toString('base64');
  }

  beforeEach(async () => {
    env = await testRedis();
    tmp = tempDir();
    agents = new FakeAgents();
    builds = new DepsBuilds(env.redis, env.keys, directory, agents, 60_000);
  });
  afterEach(async () => {
    await env.cleanup();
    tmp.cleanup();
  });

  it("asks the key's agent to build from the lock files, which it stores under the key for the others", async () => {
    const code = tgz({ 'package.json': pkg, 'package-lock.json': lock, 'index.js': 'x' });
    const r = await builds.prepare(
      { service: 'f', runtime: 'node', handler: 'index.js', code },
      'build-0001',
    );
    const key = depsKey('node', lock);
    expect(r).toMatchObject({ cached: false, spec: { key } });
    const [call] = agents.of('depsBuild');
    expect(call).toMatchObject({
      agent: builderFor(key, directory.agents())!.id,
      req: {
        runtime: 'node',
        key,
        buildId: 'build-0001',
        files: { 'package.json': pkg, 'package-lock.json': lock },
      },
    });
    expect(JSON.parse((await env.redis.get(env.keys.deps(key)))!)).toEqual(call!.req.files);
  });

  it('builds nothing for code without a lockfile, nor for exec functions', async () => {
    expect(
      await builds.prepare({ service: 'f', runtime: 'node', code: tgz({ 'package.json': pkg }) }),
    ).toBeUndefined();
    expect(
      await builds.prepare({ service: 'f', runtime: 'exec', code: tgz({ 'requirements.txt': 'six' }) }),
    ).toBeUndefined();
    expect(agents.of('depsBuild')).toEqual([]);
  });

  it('a failed build stores nothing under the key', async () => {
    const fail = new FloeError('FAILED_PRECONDITION', 'pip install failed', { details: { httpStatus: 422 } });
    const factory = {
      ...agents,
      get: (a: ReturnType<typeof agentInfo>) => ({
        ...agents.get(a),
        depsBuild: async () => Promise.reject(fail),
      }),
    };
    const failing = new DepsBuilds(env.redis, env.keys, directory, factory as unknown as FakeAgents, 60_000);
    const code = tgz({ 'requirements.txt': 'nope==1\n' });
    await expect(failing.prepare({ service: 'f', runtime: 'python', code })).rejects.toBe(fail);
    expect(await env.redis.exists(env.keys.deps(depsKey('python', 'nope==1\n')))).toBe(0);
  });

  it("removing the last function that uses a key drops its lock files (the agents' GC then drops the layer)", async () => {
    const registry = new FunctionRegistry(
      env.redis,
      env.keys,
      new SecretStore(env.redis, env.keys, loadSecretKey(tmp.dir)),
    );
    const code = tgz({ 'requirements.txt': 'six==1\n' });
    const key = depsKey('python', 'six==1\n');
    for (const name of ['a', 'b']) {
      const dep = { service: name, runtime: 'python' as const, handler: 'handler.handle', code };
      const d = await builds.prepare(dep);
      expect((await registry.deploy(dep, 'create', d!.spec.key)).depsKey).toBe(key);
    }
    await registry.remove('openfaas-fn', 'a');
    expect(await env.redis.exists(env.keys.deps(key))).toBe(1);
    await registry.remove('openfaas-fn', 'b');
    expect(await env.redis.exists(env.keys.deps(key))).toBe(0);
  });

  it('reads a build log from a given line on', async () => {
    await env.redis.rpush(env.keys.buildLog('build-0002'), 'one', 'two', 'three');
    expect(await builds.log('build-0002', undefined)).toEqual({ lines: ['one', 'two', 'three'], next: 3 });
    expect(await builds.log('build-0002', 2)).toEqual({ lines: ['three'], next: 3 });
    await expect(builds.log('../x', 0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
