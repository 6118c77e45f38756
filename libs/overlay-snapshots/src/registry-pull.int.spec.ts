import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LayerProgress } from '@floe/contracts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseReference } from './image-reference.js';
import { ImageStore } from './image-store.js';
import { readImageArchive } from './oci-import.js';
import { RegistryClient, type RegistryClientOptions } from './registry-client.js';
import { ImagePuller } from './registry-pull.js';
import { pushImage as pushSource } from './registry-push.js';
import { dockerSaveTar, writeOciLayout } from './testing/oci-fixture.js';
import {
  blobFile,
  missingRegistryTools,
  pushImage,
  randomLayer,
  startRegistry,
  type TestRegistry,
  writeMultiArchLayout,
} from './testing/registry.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../../../shared/fixtures/openfaas-images');
const ALPINE = path.join(FIXTURES, 'functions-alpine.oci.tar');
const ALPINE_DOCKER = path.join(FIXTURES, 'functions-alpine.docker.tar');
const missing = missingRegistryTools();
if (missing) console.warn(`skipping registry pull tests: ${missing}`);
const noFixture = !fs.existsSync(ALPINE);
if (noFixture) console.warn(`skipping the OpenFaaS image pull test: ${ALPINE} is absent`);

const CREDS = { username: 'floe', password: 'pull-secret' };

describe.skipIf(!!missing)('pulling from a real registry (docker-registry)', () => {
  let root: string;
  let secure: TestRegistry;
  let plain: TestRegistry;
  const clients: RegistryClient[] = [];
  let seq = 0;

  /** A layout of a small synthetic image (two gzip layers), pushed as `repoTag`. */
  async function pushSynthetic(reg: TestRegistry, repoTag: string, bytes = 64 << 10): Promise<string> {
    const dir = path.join(root, `layout-${seq++}`);
    writeOciLayout(dir, {
      layers: [await randomLayer('a', bytes), await randomLayer('b', bytes)],
      gzip: true,
    });
    await pushImage(reg, `oci:${dir}:latest`, repoTag);
    return dir;
  }

  async function puller(opts: RegistryClientOptions = {}, name = `store-${seq++}`) {
    const store = await ImageStore.open(path.join(root, name), { durable: false });
    const client = new RegistryClient({ ca: [secure.ca!], ...opts });
    clients.push(client);
    const log: string[] = [];
    let bytes = 0;
    const results: string[] = [];
    const p = new ImagePuller(store, client, {
      log: (l) => log.push(l),
      bytes: (n) => {
        bytes += n;
      },
      observe: (r) => results.push(r),
    });
    return { store, p, log, results, bytes: () => bytes };
  }

  const withCreds = { credentials: (r: string) => (r === secure.host ? CREDS : undefined) };

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-regpull-'));
    secure = await startRegistry(path.join(root, 'secure'), { tls: true, creds: CREDS });
    plain = await startRegistry(path.join(root, 'plain'));
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  afterAll(async () => {
    await secure?.stop();
    await plain?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it.skipIf(noFixture)(
    'pulls the OpenFaaS functions/alpine image by tag over TLS with basic auth, then by digest',
    async () => {
      await pushImage(secure, `oci-archive:${ALPINE}`, 'functions/alpine:latest');
      const { p, store, log, results } = await puller(withCreds);
      const ref = `${secure.host}/functions/alpine:latest`;
      const img = await p.pull(ref);
      expect(img.config.Cmd).toEqual(['fwatchdog']);
      expect(fs.existsSync(path.join(store.layers.path(img.layers.at(-1)!), 'usr/bin/fwatchdog'))).toBe(true);
      expect(await store.resolve(ref)).toMatchObject({ manifestDigest: img.manifestDigest });
      expect(log.some((l) => /layer 0 .* bytes in \d+ ms/.test(l))).toBe(true);
      expect(results).toEqual(['ok']);

      const resolved = await p.resolve(ref);
      const pinned = `${secure.host}/functions/alpine@${resolved.digest}`;
      const fresh = await puller(withCreds);
      expect((await fresh.p.pull(pinned)).manifestDigest).toBe(img.manifestDigest);
      // Present and pinned: no request at all (the registry is not even asked).
      const offline = new ImagePuller(fresh.store, new RegistryClient({ mirrors: {} }));
      expect((await offline.ensure(pinned)).manifestDigest).toBe(img.manifestDigest);
    },
  );

  it('follows the bearer-token flow (WWW-Authenticate realm, service, scope) of a token-auth registry', async () => {
    const tokened = await startRegistry(path.join(root, 'token'), { creds: CREDS, token: true });
    try {
      await pushSynthetic(tokened, 'bearer/img:1');
      const { p } = await puller({ credentials: (r) => (r === tokened.host ? CREDS : undefined) });
      const img = await p.pull(`${tokened.host}/bearer/img:1`);
      expect(img.layers).toHaveLength(2);
      const wrong = await puller({ credentials: () => ({ username: 'floe', password: 'nope' }) });
      await expect(wrong.p.resolve(`${tokened.host}/bearer/img:1`)).rejects.toThrow(
        /registry refused the credentials: 401 UNAUTHORIZED: bad credentials/,
      );
    } finally {
      await tokened.stop();
    }
  });

  it('refuses TLS to a registry whose CA is not configured, and trusts it once FLOE_REGISTRY_CA is', async () => {
    await pushSynthetic(secure, 'tls/check:1');
    const { p } = await puller({ ...withCreds, ca: undefined });
    const untrusted = new ImagePuller(p.images, new RegistryClient(withCreds));
    await expect(untrusted.pull(`${secure.host}/tls/check:1`)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const ok = await puller(withCreds);
    await expect(ok.p.pull(`${secure.host}/tls/check:1`)).resolves.toBeTruthy();
  });

  it('wrong credentials are a clear refusal naming image with the registry reason; nothing is stored', async () => {
    await pushSynthetic(secure, 'auth/check:1');
    const { p, store } = await puller({ credentials: () => ({ username: 'floe', password: 'wrong' }) });
    const err = await p.pull(`${secure.host}/auth/check:1`).catch((e) => e);
    expect(err).toMatchObject({
      code: 'FAILED_PRECONDITION',
      fault: 'user',
      details: { field: 'image', registryStatus: 401 },
    });
    expect(err.message).toMatch(/registry refused the credentials: 401 UNAUTHORIZED/);
    expect(err.message).not.toContain('wrong');
    const anon = await puller();
    await expect(anon.p.pull(`${secure.host}/auth/check:1`)).rejects.toMatchObject({
      details: { registryStatus: 401 },
    });
    expect(await store.list()).toEqual([]);
    expect(store.layers.list()).toEqual([]);
  });

  it('a missing tag or repository is NOT_FOUND naming image with the registry reason', async () => {
    await pushSynthetic(plain, 'nf/check:1');
    const { p, store } = await puller();
    const tag = await p.resolve(`${plain.host}/nf/check:2`).catch((e) => e);
    expect(tag).toMatchObject({ code: 'NOT_FOUND', details: { field: 'image', registryStatus: 404 } });
    expect(tag.message).toMatch(/MANIFEST_UNKNOWN/);
    const repo = await p.pull(`${plain.host}/nf/nothing:1`).catch((e) => e);
    expect(repo.message).toMatch(/NAME_UNKNOWN|MANIFEST_UNKNOWN/);
    expect(await store.list()).toEqual([]);
  });

  it('resolves a multi-arch index built here to the linux/amd64 image; an index without it is a clear error', async () => {
    const dir = path.join(root, 'multi');
    const [amd64Layer, armLayer] = [await randomLayer('amd64', 4096), await randomLayer('arm64', 4096)];
    const [, amd64] = writeMultiArchLayout(dir, [
      { platform: { os: 'linux', architecture: 'arm64' }, layers: [armLayer] },
      { platform: { os: 'linux', architecture: 'amd64' }, layers: [amd64Layer] },
    ]);
    await pushImage(plain, `oci:${dir}:latest`, 'multi/arch:1', ['--all']);
    const { p, store } = await puller({ platform: { os: 'linux', architecture: 'amd64' } });
    const img = await p.pull(`${plain.host}/multi/arch:1`);
    expect(img.manifestDigest).toBe(amd64);
    expect(fs.existsSync(path.join(store.layers.path(img.layers[0]!), 'amd64'))).toBe(true);

    const armOnly = path.join(root, 'arm-only');
    writeMultiArchLayout(armOnly, [{ platform: { os: 'linux', architecture: 'arm64' }, layers: [armLayer] }]);
    await pushImage(plain, `oci:${armOnly}:latest`, 'multi/armonly:1', ['--all']);
    await expect(p.pull(`${plain.host}/multi/armonly:1`)).rejects.toThrow(
      /image: .*multi\/armonly:1: no linux\/amd64 image in the index \(it has linux\/arm64\)/,
    );
  });

  it('a corrupted blob (digest mismatch) is rejected and neither the layer nor the image is stored', async () => {
    await pushSynthetic(plain, 'corrupt/img:1');
    const { p, store } = await puller();
    const resolved = await p.resolve(`${plain.host}/corrupt/img:1`);
    const victim = resolved.layers[1]!;
    const file = blobFile(plain, victim.digest);
    const data = fs.readFileSync(file);
    // Same length, one byte changed inside the gzip stream's payload.
    data[data.length - 20] = data[data.length - 20]! ^ 0xff;
    fs.writeFileSync(file, data);
    const err = await p.pull(`${plain.host}/corrupt/img:1`).catch((e) => e);
    expect(err.message).toMatch(/digest mismatch|corrupt gzip|checksum/);
    expect(err.details?.field ?? err.field).toMatch(/image|layer/);
    expect(await store.resolve(`${plain.host}/corrupt/img:1`)).toBeUndefined();
    const diffIDs = JSON.parse(resolved.config.bytes.toString()).rootfs.diff_ids as string[];
    expect(store.layers.has(diffIDs[1]!)).toBe(false);
    expect(fs.readdirSync(path.join(store.layers.root, 'tmp'))).toEqual([]);
  });

  it('a watcher sees each layer’s bytes rising to its size, both when it pulls and when it joins a pull; a second pull sees layers cached', async () => {
    await pushSynthetic(plain, 'watch/img:1', 1 << 20);
    const a = await puller();
    const ref = `${plain.host}/watch/img:1`;
    const first: LayerProgress[] = [];
    const joined: LayerProgress[] = [];
    await Promise.all([
      a.p.pull(ref, undefined, (e) => first.push(e)),
      a.p.pull(ref, undefined, (e) => joined.push(e)),
    ]);
    const { layers } = await a.p.resolve(ref);
    for (const seen of [first, joined])
      for (const l of layers) {
        const mine = seen.filter((e) => e.digest === l.digest).map((e) => e.bytes);
        expect(mine.length).toBeGreaterThan(1);
        expect(mine).toEqual([...mine].sort((x, y) => x - y));
        expect(mine.at(-1)).toBe(l.size);
      }
    const again: LayerProgress[] = [];
    await a.p.pull(ref, undefined, (e) => again.push(e));
    expect(again).toEqual(
      layers.map((l) => ({ digest: l.digest, size: l.size, bytes: l.size, cached: true })),
    );
  });

  it('two pulls of one image at once download each layer once; two stores (agents) each get it', async () => {
    await pushSynthetic(plain, 'twice/img:1', 1 << 20);
    const a = await puller();
    const ref = `${plain.host}/twice/img:1`;
    const [x, y] = await Promise.all([a.p.pull(ref), a.p.pull(`${ref}`)]);
    expect(x.manifestDigest).toBe(y.manifestDigest);
    const resolved = await a.p.resolve(ref);
    const total = resolved.layers.reduce((s, l) => s + l.size, 0);
    expect(a.bytes()).toBe(total);

    // Same layer via a different ref (a second tag) in one store: not downloaded again.
    const dir = await pushSynthetic(plain, 'twice/other:1');
    await pushImage(plain, `oci:${dir}:latest`, 'twice/copy:1');
    const before = a.bytes();
    await Promise.all([a.p.pull(`${plain.host}/twice/other:1`), a.p.pull(`${plain.host}/twice/copy:1`)]);
    const other = await a.p.resolve(`${plain.host}/twice/other:1`);
    expect(a.bytes() - before).toBe(other.layers.reduce((s, l) => s + l.size, 0));

    const [b, c] = [await puller(), await puller()];
    const [ib, ic] = await Promise.all([b.p.pull(ref), c.p.pull(ref)]);
    expect(ib.manifestDigest).toBe(x.manifestDigest);
    expect(ic.manifestDigest).toBe(x.manifestDigest);
    for (const s of [b.store, c.store]) for (const l of ib.layers) expect(s.layers.has(l)).toBe(true);
  });

  it('a mirror serves a docker.io reference (busybox-style short name)', async () => {
    await pushSynthetic(plain, 'library/mirrored:1');
    const { p, store } = await puller({ mirrors: { 'docker.io': [plain.url] } });
    const img = await p.pull('mirrored:1');
    expect(await store.resolve('docker.io/library/mirrored:1')).toMatchObject({
      manifestDigest: img.manifestDigest,
    });
    expect(await store.resolve('mirrored:1')).toBeTruthy();
  });

  it("a mirror's refusal is the answer when the registry behind it cannot be reached", async () => {
    const { p } = await puller({ mirrors: { '127.0.0.1:1': [plain.url] } });
    await expect(p.resolve('127.0.0.1:1/absent/img:1')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      details: { field: 'image', registryStatus: 404 },
    });
  });

  it('a pull killed halfway leaves no image and no staging; a retry completes it', async () => {
    await pushSynthetic(plain, 'killed/img:1', 24 << 20);
    const storeRoot = path.join(root, 'killed-store');
    await ImageStore.open(storeRoot);
    const child = path.join(root, 'pull-child.mjs');
    const here = (f: string) => JSON.stringify(path.resolve(import.meta.dirname, f));
    fs.writeFileSync(
      child,
      `import { ImageStore } from ${here('image-store.ts')};
       import { RegistryClient } from ${here('registry-client.ts')};
       import { ImagePuller } from ${here('registry-pull.ts')};
       const s = await ImageStore.open(${JSON.stringify(storeRoot)}, { durable: false });
       await new ImagePuller(s, new RegistryClient()).pull(${JSON.stringify(`${plain.host}/killed/img:1`)});
       console.log('finished');`,
    );
    const proc = spawn(
      process.execPath,
      [
        '--conditions=@floe/source',
        '--import',
        path.resolve(import.meta.dirname, 'testing/ts-loader.mjs'),
        child,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
    });
    try {
      const staging = () =>
        fs.readdirSync(`${storeRoot}/tmp`).filter((n) => n.startsWith(`layer-${proc.pid}-`))[0];
      const deadline = Date.now() + 60_000;
      // Killed once a layer is partly unpacked: some bytes arrived, the pull is not done.
      for (;;) {
        const s = staging();
        const fsDir = s && path.join(storeRoot, 'tmp', s, 'fs');
        if (fsDir && fs.existsSync(fsDir) && fs.readdirSync(fsDir).length > 0) break;
        if (Date.now() > deadline || proc.exitCode !== null)
          throw new Error(`child never staged a layer: ${out}`);
        await new Promise((r) => setTimeout(r, 2));
      }
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
    } finally {
      proc.kill('SIGKILL');
    }
    expect(out).toBe('');
    const again = await ImageStore.open(storeRoot, { durable: false });
    expect(await again.resolve(`${plain.host}/killed/img:1`)).toBeUndefined();
    expect(fs.readdirSync(`${storeRoot}/tmp`)).toEqual([]);
    const img = await new ImagePuller(again, new RegistryClient()).pull(`${plain.host}/killed/img:1`);
    for (const l of img.layers) expect(again.layers.has(l)).toBe(true);
    expect(await again.resolve(`${plain.host}/killed/img:1`)).toMatchObject({
      manifestDigest: img.manifestDigest,
    });
  });

  it('an uploaded archive pushed to the registry (docker save and OCI) is pulled into a second layer dir', async () => {
    const tar = path.join(root, 'upload.tar');
    fs.writeFileSync(
      tar,
      await dockerSaveTar(
        [await randomLayer('up0', 2048), await randomLayer('up1', 2048)],
        { Cmd: ['/up'] },
        'floe/up:1',
      ),
    );
    const archives = [tar, ...(noFixture ? [] : [ALPINE_DOCKER, ALPINE])];
    for (const [i, archive] of archives.entries()) {
      const ref = parseReference(`${secure.host}/uploads/up${i}:1`);
      const pushClient = new RegistryClient({
        ca: [secure.ca!],
        platformCredentials: new Map([[secure.host, CREDS]]),
      });
      clients.push(pushClient);
      const digest = await pushSource(pushClient, ref, await readImageArchive(archive));
      const agent2 = await puller(withCreds, `second-agent-${i}`);
      const img = await agent2.p.pull(`${secure.host}/uploads/up${i}@${digest}`);
      expect(img.manifestDigest).toBe(digest);
      for (const l of img.layers) expect(agent2.store.layers.has(l)).toBe(true);
      if (i === 0) expect(img.config.Cmd).toEqual(['/up']);
      else expect(img.config.Cmd).toEqual(['fwatchdog']);
    }
  });
});
