import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotRootfs } from './snapshot-rootfs.js';

// The launcher's layer store on a real store dir: base images built in, code layers imported
// from real archives, writable layers leased per container.
const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-rootfs-'));
const layerDir = path.join(dir, 'layers');
let rootfs: SnapshotRootfs;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A tar.gz of `files`, as the scheduler stores a function's code. */
function codeArchive(files: Record<string, string>): Buffer {
  const src = mkdtempSync(path.join(dir, 'code-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(src, name), text);
  return execFileSync('tar', ['-C', src, '-cz', '.']);
}

/** A `docker save` tar of one layer holding `files`. */
function dockerSave(ref: string, config: Record<string, unknown>, files: Record<string, string>): string {
  const img = mkdtempSync(path.join(dir, 'img-'));
  const root = path.join(img, 'root');
  mkdirSync(root);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(root, name), text);
  execFileSync('tar', ['-C', root, '-cf', path.join(img, 'layer.tar'), '.']);
  const cfg = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config,
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha(readFileSync(path.join(img, 'layer.tar')))}`] },
  });
  const cfgName = `${sha(Buffer.from(cfg))}.json`;
  writeFileSync(path.join(img, cfgName), cfg);
  writeFileSync(
    path.join(img, 'manifest.json'),
    JSON.stringify([{ Config: cfgName, RepoTags: [ref], Layers: ['layer.tar'] }]),
  );
  const out = path.join(img, 'image.tar');
  execFileSync('tar', ['-C', img, '-cf', out, 'manifest.json', cfgName, 'layer.tar']);
  return out;
}

beforeAll(async () => {
  rootfs = await SnapshotRootfs.open(layerDir);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe(`${SnapshotRootfs.name} (real layer store)`, () => {
  it('opens with the base images built, each giving a rootfs over its layers with a capped writable layer', async () => {
    for (const ref of ['floe/node:latest', 'floe/python:latest', 'floe/busybox:latest']) {
      const image = await rootfs.service.resolveImage(ref);
      expect(image?.layers.length, ref).toBeGreaterThan(0);
    }
    const mounts = await rootfs.rootfs('c-node', 'floe/node:latest', 16 << 20);
    const text = JSON.stringify(mounts);
    // The image's layers are the overlay's lower dirs; the upper lives on a tmpfs of that size.
    expect(mounts.some((m) => m.type === 'overlay')).toBe(true);
    expect(text).toContain(`size=${16 << 20}`);
    for (const diffID of (await rootfs.service.resolveImage('floe/node:latest'))!.layers)
      expect(text).toContain(rootfs.service.layers.path(diffID));
    expect(await rootfs.service.containers()).toContain('c-node');
    await rootfs.release('c-node');
    expect(await rootfs.service.containers()).not.toContain('c-node');
  });

  it('refuses a rootfs of an unknown image with NOT_FOUND naming the image field', async () => {
    await expect(rootfs.rootfs('c-x', 'nope/missing:1', 16 << 20)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      details: { field: 'image' },
      message: 'image nope/missing:1: not found on this agent',
    });
    expect(await rootfs.service.containers()).not.toContain('c-x');
  });

  it('imports a code layer once per digest, even for concurrent callers, as a read-only tree of the archive', async () => {
    const blob = codeArchive({ 'index.js': 'module.exports = 1;', 'data.txt': 'hello' });
    let fetches = 0;
    const fetch = async () => {
      fetches++;
      return blob;
    };
    const [a, b] = await Promise.all([
      rootfs.codeLayer(sha(blob), fetch),
      rootfs.codeLayer(sha(blob), fetch),
    ]);
    expect(a).toBe(b);
    expect(await rootfs.codeLayer(sha(blob), fetch)).toBe(a);
    expect(fetches).toBe(1);
    expect(readFileSync(path.join(a, 'index.js'), 'utf8')).toBe('module.exports = 1;');
    expect(readFileSync(path.join(a, 'data.txt'), 'utf8')).toBe('hello');
  });

  it('forgets a failed code import, so the next call fetches again', async () => {
    const blob = codeArchive({ 'index.js': 'module.exports = 2;' });
    await expect(
      rootfs.codeLayer(sha(blob), async () => {
        throw new Error('redis away');
      }),
    ).rejects.toThrow('redis away');
    const tree = await rootfs.codeLayer(sha(blob), async () => blob);
    expect(readFileSync(path.join(tree, 'index.js'), 'utf8')).toBe('module.exports = 2;');
  });

  it('imports an image archive once under its ref and reads its run config; without an archive refuses NOT_FOUND', async () => {
    await expect(rootfs.ensureImage('e2e/absent:1')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      details: { field: 'image' },
    });
    expect(await rootfs.imageConfig('e2e/absent:1')).toBeUndefined();
    const tar = dockerSave(
      'test/img:1',
      {
        Entrypoint: ['/bin/sh'],
        Cmd: ['-c', 'cat'],
        Env: ['A=1'],
        WorkingDir: '/w',
        Labels: { 'com.floe.http-port': '8080' },
      },
      { hello: 'hi' },
    );
    await rootfs.ensureImage('test/img:1', tar);
    // Present now: a second ensure needs no archive.
    rmSync(tar);
    await rootfs.ensureImage('test/img:1');
    expect(await rootfs.imageConfig('test/img:1')).toEqual({
      entrypoint: ['/bin/sh'],
      cmd: ['-c', 'cat'],
      env: ['A=1'],
      workingDir: '/w',
      user: undefined,
      labels: { 'com.floe.http-port': '8080' },
    });
    const image = await rootfs.service.resolveImage('test/img:1');
    expect(readFileSync(path.join(rootfs.service.layers.path(image!.layers[0]!), 'hello'), 'utf8')).toBe(
      'hi',
    );
  });

  it('on open, releases writable layers that a crash left for containers that no longer exist', async () => {
    await rootfs.rootfs('left-1', 'floe/busybox:latest', 16 << 20);
    await rootfs.rootfs('left-2', 'floe/busybox:latest', 16 << 20);
    expect(await rootfs.service.containers()).toEqual(expect.arrayContaining(['left-1', 'left-2']));
    const reopened = await SnapshotRootfs.open(layerDir);
    expect(await reopened.service.containers()).toEqual([]);
    expect(existsSync(layerDir)).toBe(true);
  });
});
