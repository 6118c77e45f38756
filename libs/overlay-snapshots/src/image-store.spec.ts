import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageStore } from './image-store.js';
import { dockerSaveTar, skopeoCopy, writeOciLayout } from './testing/oci-fixture.js';
import { tarBuffer } from './testing/tar-fixture.js';

const layerA = () =>
  tarBuffer([
    { name: 'bin', type: 'dir' },
    { name: 'bin/app', type: 'file', body: Buffer.from('#!/bin/sh\necho a\n'), mode: 0o755 },
    { name: 'etc/motd', type: 'file', body: Buffer.from('hi') },
  ]);
const layerB = () =>
  tarBuffer([
    { name: 'etc/.wh.motd', type: 'file', body: Buffer.alloc(0) },
    { name: 'srv/data', type: 'file', body: Buffer.alloc(100_000, 3) },
  ]);
const config = {
  Entrypoint: ['/bin/app'],
  Cmd: ['--serve'],
  Env: ['PATH=/bin', 'MODE=prod'],
  WorkingDir: '/srv',
  User: '65534:65534',
  ExposedPorts: { '8080/tcp': {} },
  Labels: { 'org.floe.runtime': 'test' },
};

describe(ImageStore.name, () => {
  let root = '';
  afterEach(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
    root = '';
  });
  const open = async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-images-'));
    return ImageStore.open(path.join(root, 'store'), { durable: false });
  };

  for (const gzip of [true, false]) {
    it(`imports an OCI archive written by skopeo (${gzip ? 'gzip' : 'plain'} layers) and resolves it by ref`, async () => {
      const store = await open();
      const layout = path.join(root, 'layout');
      writeOciLayout(layout, { layers: [await layerA(), await layerB()], config, gzip });
      const archive = path.join(root, 'image.tar');
      skopeoCopy(`oci:${layout}:latest`, `oci-archive:${archive}:latest`);
      const img = await store.importArchive(archive, 'floe/test:1');
      expect(img.ref).toBe('floe/test:1');
      expect(img.layers).toHaveLength(2);
      expect(store.config(img)).toEqual(config);
      const again = await store.resolve('floe/test:1');
      expect(again).toEqual(img);
      expect(await store.resolve(img.manifestDigest)).toMatchObject({ layers: img.layers });
      expect(await store.resolve('floe/test:2')).toBeUndefined();
      const top = store.layers.path(img.layers[1]!);
      expect(fs.lstatSync(`${top}/etc/motd`).isCharacterDevice()).toBe(true);
      expect(fs.statSync(`${store.layers.path(img.layers[0]!)}/bin/app`).mode & 0o777).toBe(0o755);
    });
  }

  it('descends a multi-platform index to the linux/amd64 manifest', async () => {
    const store = await open();
    const layout = path.join(root, 'layout');
    const want = writeOciLayout(layout, { layers: [await layerA()], config, platformIndex: true });
    const archive = path.join(root, 'multi.tar');
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
    const img = await store.importArchive(archive, 'multi:1');
    expect(img.manifestDigest).toBe(want);
    expect(img.config.Cmd).toEqual(['--serve']);
  });

  it('imports a docker-archive tar written by skopeo', async () => {
    const store = await open();
    const layout = path.join(root, 'layout');
    writeOciLayout(layout, { layers: [await layerA()], config, gzip: true });
    const archive = path.join(root, 'docker.tar');
    skopeoCopy(`oci:${layout}:latest`, `docker-archive:${archive}:floe/dock:7`);
    const img = await store.importArchive(archive);
    expect(img.ref).toBe('floe/dock:7');
    expect(img.config.Entrypoint).toEqual(['/bin/app']);
    expect((await store.list()).map((i) => i.ref)).toEqual(['floe/dock:7']);
  });

  it('imports a hand-built legacy docker save tar', async () => {
    const store = await open();
    const archive = path.join(root, 'save.tar');
    fs.writeFileSync(archive, await dockerSaveTar([await layerA(), await layerB()], config, 'legacy/app:v2'));
    const img = await store.importArchive(archive);
    expect(img.ref).toBe('legacy/app:v2');
    expect(img.layers).toHaveLength(2);
    expect(await store.resolve('legacy/app:v2')).toMatchObject({ manifestDigest: img.manifestDigest });
  });

  it('stores a layer shared by two images once', async () => {
    const store = await open();
    const a = path.join(root, 'a.tar');
    const b = path.join(root, 'b.tar');
    fs.writeFileSync(a, await dockerSaveTar([await layerA()], config, 'x/a:1'));
    fs.writeFileSync(b, await dockerSaveTar([await layerA(), await layerB()], config, 'x/b:1'));
    await store.importArchive(a);
    await store.importArchive(b);
    expect(store.layers.list()).toHaveLength(2);
  });

  it('after kill -9 mid-import, reopening shows no image, no layer and no leftovers', async () => {
    const store = await open();
    const storeRoot = store.layers.root;
    const big = (i: number) =>
      tarBuffer([{ name: `blob${i}`, type: 'file', body: Buffer.alloc(16 << 20, i + 1) }]);
    const archive = path.join(root, 'big.tar');
    fs.writeFileSync(
      archive,
      await dockerSaveTar([await big(0), await big(1), await big(2)], config, 'big/app:1'),
    );
    const child = path.join(root, 'child.mjs');
    fs.writeFileSync(
      child,
      `import { ImageStore } from ${JSON.stringify(path.resolve(import.meta.dirname, 'image-store.ts'))};
       const s = await ImageStore.open(${JSON.stringify(storeRoot)});
       await s.importArchive(${JSON.stringify(archive)});
       console.log('finished');`,
    );
    const { spawn } = await import('node:child_process');
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
      // Kill as soon as the first layer is being staged: all three stage before any commits.
      const deadline = Date.now() + 20_000;
      while (!fs.readdirSync(`${storeRoot}/tmp`).some((n) => n.startsWith(`layer-${proc.pid}-`))) {
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
    const again = await ImageStore.open(storeRoot);
    expect(await again.resolve('big/app:1')).toBeUndefined();
    expect(again.layers.list()).toEqual([]);
    expect(fs.readdirSync(`${storeRoot}/layers`)).toEqual([]);
    expect(fs.readdirSync(`${storeRoot}/tmp`)).toEqual([]);
  });

  describe('digest verification', () => {
    const expectNothingStored = (store: ImageStore) => {
      expect(store.layers.list()).toEqual([]);
      expect(fs.readdirSync(`${store.layers.root}/tmp`)).toEqual([]);
      expect(store.layers.listBlobs()).toEqual([]);
      expect(fs.existsSync(`${store.layers.root}/images.json`)).toBe(false);
    };

    it('rejects a layer whose diffID does not match config.rootfs.diff_ids', async () => {
      const store = await open();
      const layout = path.join(root, 'layout');
      writeOciLayout(layout, {
        layers: [await layerA(), await layerB()],
        config,
        gzip: true,
        wrongDiffID: 1,
      });
      const archive = path.join(root, 'bad.tar');
      skopeoCopy(`oci:${layout}:latest`, `oci-archive:${archive}:latest`);
      await expect(store.importArchive(archive, 'bad:1')).rejects.toThrow(
        /layer 1 .*diffID: digest mismatch/,
      );
      expectNothingStored(store);
    });

    it('rejects a tampered layer blob', async () => {
      const store = await open();
      const layout = path.join(root, 'layout');
      writeOciLayout(layout, { layers: [await layerA(), await layerB()], config, gzip: false });
      // Flip a byte inside layer B's file body: same size, different sha256.
      const blobs = path.join(layout, 'blobs/sha256');
      const victim = fs.readdirSync(blobs).find((f) => fs.statSync(path.join(blobs, f)).size > 100_000)!;
      const buf = fs.readFileSync(path.join(blobs, victim));
      buf[buf.length - 2000] ^= 0xff;
      fs.writeFileSync(path.join(blobs, victim), buf);
      const archive = path.join(root, 'tampered.tar');
      // Build the archive by hand: skopeo itself would refuse the corrupt blob.
      const { execFileSync } = await import('node:child_process');
      execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
      await expect(store.importArchive(archive)).rejects.toThrow(/layer 1 .*blob: digest mismatch/);
      expectNothingStored(store);
    });

    it('rejects a tampered config', async () => {
      const store = await open();
      const archive = path.join(root, 'save.tar');
      const tar = await dockerSaveTar([await layerA()], config, 'x/y:1');
      fs.writeFileSync(
        archive,
        Buffer.from(tar.toString('latin1').replace('/bin/app', '/bin/evl'), 'latin1'),
      );
      await expect(store.importArchive(archive)).rejects.toThrow(/checksum|config: digest mismatch/);
      expectNothingStored(store);
    });
  });
});
