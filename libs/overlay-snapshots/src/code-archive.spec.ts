import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { importCodeArchive } from './code-archive.js';
import { LayerStore } from './layer-store.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import { mountsUnder, performMounts } from './testing/mount-cli.js';

/** Write a zip with Python's zipfile, which (unlike zip(1)) will write hostile names. */
function pyZip(file: string, members: [string, string | number, number?][]): void {
  const script = `
import sys, json, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    for name, body, mode in json.loads(sys.argv[2]):
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        if mode: info.external_attr = mode << 16
        z.writestr(info, b'\\0' * body if isinstance(body, int) else body.encode())
`;
  execFileSync('/usr/bin/python3', [
    '-c',
    script,
    file,
    JSON.stringify(members.map(([n, b, m]) => [n, b, m ?? 0])),
  ]);
}

describe('importCodeArchive', () => {
  let root = '';
  const undo: (() => void)[] = [];
  const open = async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-code-'));
    return LayerStore.open(path.join(root, 'store'), { durable: false });
  };
  afterEach(() => {
    try {
      while (undo.length) undo.pop()!();
    } finally {
      if (root) {
        expect(mountsUnder(root)).toEqual([]);
        fs.rmSync(root, { recursive: true, force: true });
      }
      root = '';
    }
  });
  const nothingStored = (store: LayerStore) => {
    expect(store.list()).toEqual([]);
    expect(fs.readdirSync(`${store.root}/tmp`)).toEqual([]);
  };

  it('imports a zip made by zip(1) with modes and symlinks, root-owned, at the layer root', async () => {
    const store = await open();
    const src = path.join(root, 'src');
    fs.mkdirSync(`${src}/lib`, { recursive: true });
    fs.writeFileSync(`${src}/handler.js`, 'export default () => 42;\n');
    fs.writeFileSync(`${src}/run.sh`, '#!/bin/sh\n', { mode: 0o700 });
    fs.writeFileSync(`${src}/lib/util.js`, 'x'.repeat(100_000));
    fs.symlinkSync('lib/util.js', `${src}/util.js`);
    execFileSync('zip', ['-qry', path.join(root, 'code.zip'), '.'], { cwd: src });
    const layer = await importCodeArchive(store, path.join(root, 'code.zip'));
    expect(fs.readFileSync(`${layer.path}/handler.js`, 'utf8')).toContain('42');
    expect(fs.statSync(`${layer.path}/run.sh`).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(`${layer.path}/handler.js`).mode & 0o7777).toBe(0o644);
    expect(fs.readlinkSync(`${layer.path}/util.js`)).toBe('lib/util.js');
    expect(fs.statSync(`${layer.path}/lib/util.js`)).toMatchObject({ uid: 0, gid: 0, size: 100_000 });
    const again = await importCodeArchive(store, path.join(root, 'code.zip'));
    expect(again.diffID).toBe(layer.diffID);
    expect(store.list()).toHaveLength(1);
  });

  it('imports tar and tar.gz archives and views the layer read-only', async () => {
    const store = await open();
    const src = path.join(root, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(`${src}/main.py`, 'print(1)\n');
    execFileSync('tar', ['-C', src, '-czf', path.join(root, 'code.tgz'), '.']);
    execFileSync('tar', ['-C', src, '-cf', path.join(root, 'code.tar'), '.']);
    const gz = await importCodeArchive(store, path.join(root, 'code.tgz'));
    const plain = await importCodeArchive(store, path.join(root, 'code.tar'), 'tar');
    expect(gz.diffID).toBe(plain.diffID);
    const snaps = await OverlaySnapshotter.open(path.join(root, 'store'), { layers: store });
    const mounts = await snaps.view('code-view', await snaps.ensureChain([gz.diffID]));
    expect(mounts).toEqual([{ type: 'bind', source: gz.path, options: ['ro', 'rbind'] }]);
    const mnt = path.join(root, 'mnt');
    fs.mkdirSync(mnt);
    undo.push(performMounts(mounts, mnt));
    expect(fs.readFileSync(`${mnt}/main.py`, 'utf8')).toBe('print(1)\n');
    expect(() => fs.writeFileSync(`${mnt}/x`, '')).toThrow(/EROFS/);
  });

  const hostile: [string, [string, string | number, number?][], RegExp][] = [
    ['a ../ path', [['../../etc/cron.d/x', 'boom']], /'\.\.\/\.\.\/etc\/cron\.d\/x'.*'\.\.'/],
    ['an absolute path', [['/etc/x', 'boom']], /'\/etc\/x'.*absolute/],
    [
      'a write through its own symlink',
      [
        ['link', '/etc', 0o120777],
        ['link/passwd', 'pwned'],
      ],
      /'link\/passwd'.*not a directory/,
    ],
    ['a zip bomb', [['zeros', 50 << 20]], /'zeros'.*compression ratio/],
  ];
  for (const [what, members, msg] of hostile) {
    it(`rejects a zip with ${what} and stores nothing`, async () => {
      const store = await open();
      const file = path.join(root, 'bad.zip');
      pyZip(file, members);
      const err = await importCodeArchive(store, file).catch((e) => e);
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(err.message).toMatch(msg);
      nothingStored(store);
    });
  }

  it('rejects a zip whose data fails its CRC', async () => {
    const store = await open();
    const file = path.join(root, 'crc.zip');
    pyZip(file, [['a.txt', 'hello hello hello hello']]);
    const buf = fs.readFileSync(file);
    buf.writeUInt32LE(0xdeadbeef, buf.indexOf(Buffer.from('PK\x01\x02', 'latin1')) + 16);
    fs.writeFileSync(file, buf);
    await expect(importCodeArchive(store, file)).rejects.toThrow(/'a.txt'.*CRC mismatch/);
    nothingStored(store);
  });

  it('enforces entry and size limits', async () => {
    const store = await open();
    const file = path.join(root, 'many.zip');
    pyZip(file, [
      ['a', 'x'],
      ['b', 'y'],
      ['c', 'z'],
    ]);
    await expect(
      importCodeArchive(store, file, 'zip', {
        limits: { maxEntries: 2, maxTotalBytes: 1 << 20, maxRatio: 100 },
      }),
    ).rejects.toThrow(/more than 2/);
    await expect(
      importCodeArchive(store, file, 'zip', { limits: { maxEntries: 10, maxTotalBytes: 2, maxRatio: 100 } }),
    ).rejects.toThrow(/'c'.*2-byte limit/);
    nothingStored(store);
  });
});
