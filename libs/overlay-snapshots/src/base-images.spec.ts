import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BASE_RECIPE_LABEL, defaultBaseImages, ensureBaseImages, pycForMtimeZero } from './base-images.js';
import { ImageStore } from './image-store.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import { mountsUnder, performMounts } from './testing/mount-cli.js';

describe('ensureBaseImages', () => {
  let root = '';
  let store: ImageStore;
  let snaps: OverlaySnapshotter;
  let firstBuild: Awaited<ReturnType<typeof ensureBaseImages>>;
  const undo: (() => void)[] = [];

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-base-'));
    store = await ImageStore.open(root);
    snaps = await OverlaySnapshotter.open(root, { layers: store.layers });
    firstBuild = await ensureBaseImages(store);
    console.log(
      'base images first build:',
      firstBuild
        .map((r) => `${r.ref} ${r.ms.toFixed(0)} ms ${((r.bytes ?? 0) / 1e6).toFixed(1)} MB`)
        .join(', '),
    );
  }, 120_000);
  afterEach(() => {
    while (undo.length) undo.pop()!();
  });
  afterAll(() => {
    if (root) {
      expect(mountsUnder(root)).toEqual([]);
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  /** Mount a capped rootfs for `ref` and run `argv` chrooted into it. */
  const run = async (
    ref: string,
    key: string,
    argv: string[],
    { env = {}, stderrToStdout = false }: { env?: Record<string, string>; stderrToStdout?: boolean } = {},
  ) => {
    const img = (await store.resolve(ref))!;
    const parent = await snaps.ensureChain(img.layers);
    const rootfs = path.join(root, 'mnt', key);
    fs.mkdirSync(rootfs, { recursive: true });
    undo.push(performMounts(await snaps.prepare(key, parent, { sizeLimitBytes: 16 << 20 }), rootfs));
    const r = spawnSync('/usr/sbin/chroot', [rootfs, ...argv], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', ...env },
    });
    if (r.status !== 0) throw new Error(`chroot ${argv.join(' ')}: ${r.status ?? r.signal} ${r.stderr}`);
    return stderrToStdout ? r.stdout + r.stderr : r.stdout;
  };

  it('builds busybox, node and python once, and the second call only checks refs', async () => {
    expect(firstBuild.map((r) => [r.ref, r.built])).toEqual([
      ['floe/busybox:latest', true],
      ['floe/node:latest', true],
      ['floe/python:latest', true],
    ]);
    const again = await ensureBaseImages(store);
    expect(again.every((r) => !r.built)).toBe(true);
    expect(again.map((r) => r.ref)).toEqual(firstBuild.map((r) => r.ref));
  });

  it('gives the same diffIDs when rebuilt (deterministic tars)', async () => {
    const other = await ImageStore.open(path.join(root, 'second'), { durable: false });
    const [bb] = await ensureBaseImages(other, defaultBaseImages().slice(0, 1));
    expect(bb!.diffID).toBe(firstBuild[0]!.diffID);
  }, 120_000);

  it('rebuilds an image an older recipe made, and moves its ref', async () => {
    const other = await ImageStore.open(path.join(root, 'third'), { durable: false });
    const busybox = defaultBaseImages().slice(0, 1);
    const [old] = await ensureBaseImages(other, busybox, '1');
    const before = (await other.resolve('floe/busybox:latest'))!;
    const [now] = await ensureBaseImages(other, busybox);
    const after = (await other.resolve('floe/busybox:latest'))!;
    expect([old!.built, now!.built]).toEqual([true, true]);
    expect(after.manifestDigest).not.toBe(before.manifestDigest);
    expect(after.config.Labels?.[BASE_RECIPE_LABEL]).not.toBe('1');
    const [again] = await ensureBaseImages(other, busybox);
    expect(again!.built).toBe(false);
  }, 120_000);

  it('floe/busybox runs /bin/sh with applets', async () => {
    expect(
      await run('floe/busybox:latest', 'bb', ['/bin/sh', '-c', 'echo hi && ls /bin | grep -c .']),
    ).toMatch(/^hi\n\d+/);
    expect(await run('floe/busybox:latest', 'bb2', ['/bin/cat', '/etc/passwd'])).toContain('nobody:x:65534');
  });

  it('floe/node runs node', async () => {
    const img = (await store.resolve('floe/node:latest'))!;
    expect(await run('floe/node:latest', 'nd', [img.config.Entrypoint![0]!, '-e', 'console.log(6*7)'])).toBe(
      '42\n',
    );
  });

  it('floe/python runs python3.11 with its standard library', async () => {
    const out = await run('floe/python:latest', 'py', [
      '/usr/bin/python3.11',
      '-c',
      'import json, hashlib, zlib, ssl, asyncio, decimal, sqlite3; print(json.dumps([1]))',
    ]);
    expect(out).toBe('[1]\n');
  });

  it("floe/python loads the stdlib from its shipped bytecode: no module is stale despite the layer's mtime 0", async () => {
    // -v reports each module's source: "code object from <pyc>", or "bytecode is stale" first.
    const out = await run(
      'floe/python:latest',
      'pyc',
      ['/usr/bin/python3.11', '-v', '-c', 'import json, socket, threading, base64, traceback'],
      { env: { PYTHONDONTWRITEBYTECODE: '1' }, stderrToStdout: true },
    );
    expect(out).toMatch(
      /code object from '\/usr\/lib\/python3\.11\/json\/__pycache__\/__init__\.cpython-311\.pyc'/,
    );
    expect(out).not.toContain('bytecode is stale');
  });
});

describe('pycForMtimeZero', () => {
  const pyc = (flags: number) => {
    const b = Buffer.alloc(20, 7);
    b.writeUInt32LE(flags, 4);
    return b;
  };

  it('zeroes the recorded source mtime of a timestamp-checked .pyc, and nothing else', () => {
    const out = pycForMtimeZero(pyc(0));
    expect(out.readUInt32LE(8)).toBe(0);
    expect(out.subarray(12)).toEqual(pyc(0).subarray(12));
    expect(out.subarray(0, 8)).toEqual(pyc(0).subarray(0, 8));
  });

  it('leaves hash-based and truncated files alone', () => {
    expect(pycForMtimeZero(pyc(1))).toEqual(pyc(1));
    expect(pycForMtimeZero(Buffer.alloc(10))).toEqual(Buffer.alloc(10));
  });
});
