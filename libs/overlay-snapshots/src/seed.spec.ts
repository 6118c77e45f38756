import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { diskUsage } from './disk-usage.js';
import { LayerStore } from './layer-store.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import { mountsUnder, performMounts } from './testing/mount-cli.js';
import { chunksOf, tarBuffer } from './testing/tar-fixture.js';

/** The overlayfs behaviour the seed text describes, reproduced against real mounts. */
describe('overlay layers (seed)', () => {
  let root = '';
  const undo: (() => void)[] = [];

  const setup = async (files: Parameters<typeof tarBuffer>[0]) => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-seed-'));
    const layers = await LayerStore.open(root, { durable: false });
    const snaps = await OverlaySnapshotter.open(root, { layers });
    const { diffID } = await layers.importTar(chunksOf(await tarBuffer(files)));
    const parent = (await snaps.ensureChain([diffID]))!;
    return { layers, snaps, diffID, parent };
  };
  const mount = (mounts: Parameters<typeof performMounts>[0], name: string) => {
    const dir = path.join(root, 'mnt', name);
    fs.mkdirSync(dir, { recursive: true });
    undo.push(performMounts(mounts, dir));
    return dir;
  };
  const upperOf = (snaps: OverlaySnapshotter, key: string) =>
    `${root}/snapshots/${snaps.records().find((r) => r.name === key)!.id}/fs`;

  afterEach(() => {
    try {
      while (undo.length) undo.pop()!();
    } finally {
      if (root) {
        expect(mountsUnder(root)).toEqual([]);
        fs.rmSync(root, { recursive: true, force: true });
        root = '';
      }
    }
  });

  it('copy-up on write leaves the lower file unchanged', async () => {
    const { layers, snaps, diffID, parent } = await setup([
      { name: 'etc/app.conf', type: 'file', body: Buffer.from('port=80\n') },
    ]);
    const rootfs = mount(await snaps.prepare('c1', parent), 'c1');
    fs.appendFileSync(`${rootfs}/etc/app.conf`, 'debug=1\n');
    expect(fs.readFileSync(`${rootfs}/etc/app.conf`, 'utf8')).toBe('port=80\ndebug=1\n');
    expect(fs.readFileSync(`${layers.path(diffID)}/etc/app.conf`, 'utf8')).toBe('port=80\n');
    expect(fs.readFileSync(`${upperOf(snaps, 'c1')}/etc/app.conf`, 'utf8')).toBe('port=80\ndebug=1\n');
  });

  it('rm of a lower file leaves a 0/0 character device in the upper dir', async () => {
    const { layers, snaps, diffID, parent } = await setup([
      { name: 'file.txt', type: 'file', body: Buffer.from('x') },
    ]);
    const rootfs = mount(await snaps.prepare('c1', parent), 'c1');
    fs.rmSync(`${rootfs}/file.txt`);
    expect(fs.existsSync(`${rootfs}/file.txt`)).toBe(false);
    const wh = fs.lstatSync(`${upperOf(snaps, 'c1')}/file.txt`);
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(fs.readFileSync(`${layers.path(diffID)}/file.txt`, 'utf8')).toBe('x');
  });

  it('OCI whiteouts and opaque dirs in an upper image layer hide lower content when mounted', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-seed-'));
    const layers = await LayerStore.open(root, { durable: false });
    const snaps = await OverlaySnapshotter.open(root, { layers });
    const lower = await tarBuffer([
      { name: 'etc/motd', type: 'file', body: Buffer.from('old') },
      { name: 'etc/keep', type: 'file', body: Buffer.from('k') },
      { name: 'var/cache/stale', type: 'file', body: Buffer.from('s') },
    ]);
    const upper = await tarBuffer([
      { name: 'etc/.wh.motd', type: 'file', body: Buffer.alloc(0) },
      { name: 'var/cache/.wh..wh..opq', type: 'file', body: Buffer.alloc(0) },
      { name: 'var/cache/fresh', type: 'file', body: Buffer.from('f') },
    ]);
    const ids = [
      (await layers.importTar(chunksOf(lower))).diffID,
      (await layers.importTar(chunksOf(upper))).diffID,
    ];
    const rootfs = mount(await snaps.view('v', await snaps.ensureChain(ids)), 'v');
    expect(fs.readdirSync(`${rootfs}/etc`)).toEqual(['keep']);
    expect(fs.readdirSync(`${rootfs}/var/cache`)).toEqual(['fresh']);
  });

  it('N containers on one image add only their own changes to disk use', async () => {
    const N = 10;
    const image = Array.from({ length: 20 }, (_, i) => ({
      name: `usr/lib/blob${i}`,
      type: 'file' as const,
      body: randomBytes(1 << 20),
    }));
    const { layers, snaps, diffID, parent } = await setup(image);
    const imageSize = diskUsage(layers.path(diffID)).size;
    for (let i = 0; i < N; i++) {
      const rootfs = mount(await snaps.prepare(`c${i}`, parent), `c${i}`);
      fs.writeFileSync(`${rootfs}/tmp-${i}.log`, randomBytes(10_000));
      expect(fs.readFileSync(`${rootfs}/usr/lib/blob3`).length).toBe(1 << 20);
    }
    const seen = new Set<string>();
    let total = diskUsage(layers.path(diffID), seen).size;
    for (let i = 0; i < N; i++) total += (await snaps.usage(`c${i}`)).size;
    // ~20 MiB image + 10 x ~12 KiB, not 10 x 20 MiB.
    expect(total).toBeLessThan(imageSize + N * 64 * 1024);
    expect(total).toBeLessThan(imageSize * 1.1);
  });

  it('a size-capped container layer hits ENOSPC while the image stays readable', async () => {
    const { snaps, parent } = await setup([
      { name: 'bin/app', type: 'file', body: Buffer.alloc(3 << 20, 1) },
    ]);
    const mounts = await snaps.prepare('capped', parent, { sizeLimitBytes: 2 << 20 });
    const rootfs = mount(mounts, 'capped');
    expect(() => fs.writeFileSync(`${rootfs}/fill`, Buffer.alloc(4 << 20, 1))).toThrow(/ENOSPC/);
    // Copy-up of a 3 MiB lower file cannot fit a 2 MiB upper either.
    expect(() => fs.appendFileSync(`${rootfs}/bin/app`, 'x')).toThrow(/ENOSPC/);
    expect(fs.statSync(`${rootfs}/bin/app`).size).toBe(3 << 20);
  });
});
