import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SchedulerPatterns } from '@floe/contracts';
import { ImagePuller, ImageStore, RegistryClient } from '@floe/overlay-snapshots';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerSaveTar } from '../../../libs/overlay-snapshots/src/testing/oci-fixture.js';
import {
  missingRegistryTools,
  randomLayer,
  startRegistry,
  type TestRegistry,
} from '../../../libs/overlay-snapshots/src/testing/registry.js';
import { bootGateway, type Harness } from './harness.js';

const missing = missingRegistryTools();
if (missing) console.warn(`skipping upload-to-registry tests: ${missing}`);
const CREDS = { username: 'floe-platform', password: 'push-pass' };

describe.skipIf(!!missing)('POST /floe/images with FLOE_REGISTRY: uploads reach every agent', () => {
  let root: string;
  let reg: TestRegistry;
  let h: Harness;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-gw-reg-'));
    reg = await startRegistry(path.join(root, 'reg'), { tls: true, creds: CREDS });
    fs.writeFileSync(path.join(root, 'ca.pem'), reg.ca!);
    const auth = {
      auths: { [reg.host]: { auth: Buffer.from(`${CREDS.username}:${CREDS.password}`).toString('base64') } },
    };
    fs.writeFileSync(path.join(root, 'auth.json'), JSON.stringify(auth), { mode: 0o600 });
    h = await bootGateway({
      FLOE_REGISTRY: `${reg.host}/uploads`,
      FLOE_REGISTRY_AUTH: path.join(root, 'auth.json'),
      FLOE_REGISTRY_CA: path.join(root, 'ca.pem'),
    });
  });
  afterAll(async () => {
    await h?.stop();
    await reg?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('pushes the upload, pins the deployment to it, and a second layer dir pulls it from there', async () => {
    const tar = await dockerSaveTar([await randomLayer('app', 4096)], { Cmd: ['/app'] }, 'team/app:1');
    const r = await h.api.send('POST', '/floe/images?ref=team/app:1', { auth: h.auth, body: tar });
    expect(r.status).toBe(201);
    const up = r.json();
    expect(up.pinned).toMatch(new RegExp(`^${reg.host}/uploads/team/app@sha256:[a-f0-9]{64}$`));

    await h.api.send('POST', '/system/functions', {
      auth: h.auth,
      body: JSON.stringify({ service: 'app', image: 'team/app:1' }),
    });
    const sent = h.fake.state.seen(SchedulerPatterns.deploy).at(-1) as {
      annotations?: Record<string, string>;
    };
    expect(sent.annotations).toEqual({ 'com.floe.image-pinned': up.pinned });

    // Listed before any agent has it: present nowhere yet, with the pushed digest.
    const list = await h.api.send('GET', '/floe/images', { auth: h.auth });
    expect(list.status).toBe(200);
    expect(list.json()).toContainEqual({
      ref: 'team/app:1',
      refs: ['team/app:1'],
      digest: up.pinned.split('@')[1],
      size: 0,
      present: [],
      pulling: [],
    });

    // "Another host": its own layer dir, only the registry in common.
    const store = await ImageStore.open(path.join(root, 'agent-2'), { durable: false });
    const client = new RegistryClient({ ca: [reg.ca!], platformCredentials: new Map([[reg.host, CREDS]]) });
    try {
      const img = await new ImagePuller(store, client).ensure(up.pinned);
      expect(img.config.Cmd).toEqual(['/app']);
      for (const l of img.layers) expect(store.layers.has(l)).toBe(true);
    } finally {
      client.close();
    }
  });

  it('an upload that is not an image archive is refused with a 400 instead of being pushed', async () => {
    const r = await h.api.send('POST', '/floe/images?ref=team/junk:1', {
      auth: h.auth,
      body: 'not a tar at all',
    });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', fault: 'user' });
  });
});
