import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REGISTRY_AUTH_SECRET } from '@floe/contracts';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeOciLayout } from '../../overlay-snapshots/src/testing/oci-fixture.js';
import {
  missingRegistryTools,
  pushImage,
  randomLayer,
  startRegistry,
  type TestRegistry,
} from '../../overlay-snapshots/src/testing/registry.js';
import { FunctionRegistry } from './function-registry.js';
import { ImageResolver } from './image-resolver.js';
import { loadSecretKey, SecretStore } from './secret-store.js';
import { tempDir, testRedis } from './testing/fixtures.js';

const missing = missingRegistryTools();
if (missing) console.warn(`skipping deploy-time image resolution tests: ${missing}`);
const CREDS = { username: 'deployer', password: 's3cret-pass' };

describe.skipIf(!!missing)('deploy resolves registry images (real docker-registry, real Redis)', () => {
  let root: string;
  let reg: TestRegistry;
  let digest: string;
  let env: Awaited<ReturnType<typeof testRedis>>;
  let tmp: ReturnType<typeof tempDir>;
  let secrets: SecretStore;
  let registry: FunctionRegistry;

  const authSecret = (password: string) =>
    JSON.stringify({
      auths: { [reg.host]: { auth: Buffer.from(`${CREDS.username}:${password}`).toString('base64') } },
    });

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-resolve-'));
    reg = await startRegistry(path.join(root, 'reg'), { tls: true, creds: CREDS });
    const dir = path.join(root, 'layout');
    digest = writeOciLayout(dir, { layers: [await randomLayer('f', 1024)], gzip: true });
    await pushImage(reg, `oci:${dir}:latest`, 'team/fn:1');
  });
  afterAll(async () => {
    await reg?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    env = await testRedis();
    tmp = tempDir();
    secrets = new SecretStore(env.redis, env.keys, loadSecretKey(tmp.dir));
    const config = { ca: [reg.ca!], insecure: [], mirrors: {} };
    registry = new FunctionRegistry(env.redis, env.keys, secrets, new ImageResolver(secrets, config));
  });
  afterEach(async () => {
    await env.cleanup();
    tmp.cleanup();
  });

  it("pins the digest the tag names, with the namespace's floe-registry-auth credentials", async () => {
    await secrets.put({
      name: REGISTRY_AUTH_SECRET,
      namespace: 'team',
      value: authSecret(CREDS.password),
      mode: 'create',
    });
    const v = await registry.deploy(
      { service: 'fn', namespace: 'team', image: `${reg.host}/team/fn:1` },
      'create',
    );
    expect(v.imagePinned).toBe(`${reg.host}/team/fn@${digest}`);
    expect(v.image).toBe(`${reg.host}/team/fn:1`);
    expect(await registry.versions('team', 'fn')).toMatchObject([{ version: 1, imagePinned: v.imagePinned }]);
    // Credentials are per namespace: another namespace has none and is refused.
    await expect(
      registry.deploy({ service: 'fn', namespace: 'other', image: `${reg.host}/team/fn:1` }, 'create'),
    ).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      details: { field: 'image', registryStatus: 401 },
    });
  });

  it('refused credentials and a missing tag fail the deploy naming image, and store nothing', async () => {
    await secrets.put({
      name: REGISTRY_AUTH_SECRET,
      namespace: 'team',
      value: authSecret('wrong-pass'),
      mode: 'create',
    });
    const refused = await registry
      .deploy({ service: 'fn', namespace: 'team', image: `${reg.host}/team/fn:1` }, 'create')
      .catch((e) => e);
    expect(refused).toMatchObject({
      code: 'FAILED_PRECONDITION',
      fault: 'user',
      details: { field: 'image' },
    });
    expect(refused.message).toMatch(/registry refused the credentials: 401 UNAUTHORIZED/);
    expect(refused.message).not.toContain('wrong-pass');
    await secrets.put({
      name: REGISTRY_AUTH_SECRET,
      namespace: 'team',
      value: authSecret(CREDS.password),
      mode: 'update',
    });
    const notFound = await registry
      .deploy({ service: 'fn', namespace: 'team', image: `${reg.host}/team/fn:nope` }, 'create')
      .catch((e) => e);
    expect(notFound).toMatchObject({ code: 'NOT_FOUND', details: { field: 'image', registryStatus: 404 } });
    expect(notFound.message).toMatch(/MANIFEST_UNKNOWN/);
    expect(await registry.find('team', 'fn')).toBeUndefined();
  });

  it('base images and uploads are not looked up in a registry', async () => {
    const v = await registry.deploy(
      { service: 'code', runtime: 'node', handler: 'i.js', code: Buffer.from('x').toString('base64') },
      'create',
    );
    expect(v.imagePinned).toBeUndefined();
    const up = await registry.deploy(
      { service: 'up', image: 'floe/demo:1', annotations: { 'com.floe.image-archive': '/tmp/x.tar' } },
      'create',
    );
    expect(up.imagePinned).toBeUndefined();
  });
});
