import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { LayerStore } from './layer-store.js';
import { chunksOf, getXattr, tarBuffer } from './testing/tar-fixture.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe(LayerStore.name, () => {
  const roots: string[] = [];
  const open = async (opts = {}) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-layers-'));
    roots.push(root);
    return { root, store: await LayerStore.open(root, { durable: false, ...opts }) };
  };
  afterEach(() => {
    for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
  });

  it('preserves modes, ownership, mtimes, symlinks, hard links and xattrs', async () => {
    const { store } = await open();
    const tar = await tarBuffer([
      { name: 'bin', type: 'dir', mode: 0o755, mtime: 1_600_000_000 },
      {
        name: 'bin/su',
        type: 'file',
        body: Buffer.from('#!x'),
        mode: 0o4755,
        uid: 0,
        gid: 0,
        mtime: 1_500_000_000,
      },
      { name: 'home/u/f', type: 'file', body: Buffer.from('u'), mode: 0o600, uid: 1234, gid: 4321 },
      { name: 'bin/sh', type: 'symlink', linkname: 'su', mtime: 1_400_000_000 },
      { name: 'bin/su2', type: 'link', linkname: 'bin/su' },
      {
        name: 'cap',
        type: 'file',
        body: Buffer.from('c'),
        xattrs: new Map([['user.floe', Buffer.from('yes')]]),
      },
    ]);
    const info = await store.importTar(chunksOf(tar), sha(tar));
    expect(info.diffID).toBe(sha(tar));
    const fsDir = store.path(info.diffID);
    const su = fs.statSync(`${fsDir}/bin/su`);
    expect(su.mode & 0o7777).toBe(0o4755);
    expect(su.mtimeMs).toBe(1_500_000_000_000);
    expect(su.nlink).toBe(2);
    expect(fs.statSync(`${fsDir}/bin/su2`).ino).toBe(su.ino);
    expect(fs.statSync(`${fsDir}/bin`).mtimeMs).toBe(1_600_000_000_000);
    const u = fs.statSync(`${fsDir}/home/u/f`);
    expect([u.uid, u.gid, u.mode & 0o777]).toEqual([1234, 4321, 0o600]);
    expect(fs.readlinkSync(`${fsDir}/bin/sh`)).toBe('su');
    expect(fs.lstatSync(`${fsDir}/bin/sh`).mtimeMs).toBe(1_400_000_000_000);
    expect(getXattr(`${fsDir}/cap`, 'user.floe')).toBe('yes');
  });

  it('turns OCI whiteouts into overlay whiteouts and opaque dirs', async () => {
    const { store } = await open();
    const tar = await tarBuffer([
      { name: 'etc/.wh.motd', type: 'file', body: Buffer.alloc(0) },
      { name: 'var/cache/.wh..wh..opq', type: 'file', body: Buffer.alloc(0) },
    ]);
    const { diffID } = await store.importTar(chunksOf(tar));
    const st = fs.lstatSync(`${store.path(diffID)}/etc/motd`);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
    expect(fs.existsSync(`${store.path(diffID)}/etc/.wh.motd`)).toBe(false);
    expect(getXattr(`${store.path(diffID)}/var/cache`, 'trusted.overlay.opaque')).toBe('y');
  });

  it('stores identical layers once and gives gzip and plain the same diffID', async () => {
    const { root, store } = await open();
    const tar = await tarBuffer([{ name: 'a', type: 'file', body: Buffer.from('same') }]);
    const a = await store.importTar(chunksOf(tar));
    const b = await store.importTar(chunksOf(gzipSync(tar)));
    expect(b.diffID).toBe(a.diffID);
    expect(fs.readdirSync(`${root}/layers`)).toHaveLength(1);
    expect(fs.readdirSync(`${root}/tmp`)).toEqual([]);
  });

  it('rejects a corrupt gzip layer as an invalid argument', async () => {
    const { root, store } = await open();
    const gz = gzipSync(await tarBuffer([{ name: 'a', type: 'file', body: Buffer.alloc(10_000, 1) }]));
    gz[gz.length >> 1] ^= 0xff;
    await expect(store.importTar(chunksOf(gz))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(fs.readdirSync(`${root}/tmp`)).toEqual([]);
  });

  it('closes the input file when a layer is rejected mid-stream', async () => {
    const { root, store } = await open();
    const file = path.join(root, 'bad.tar');
    fs.writeFileSync(
      file,
      await tarBuffer([
        { name: '../evil', type: 'file', body: Buffer.from('x') },
        { name: 'pad', type: 'file', body: Buffer.alloc(8 << 20) },
      ]),
    );
    const fds = () =>
      fs.readdirSync('/proc/self/fd').filter((f) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${f}`) === file;
        } catch {
          return false;
        }
      }).length;
    await expect(store.importTar(fs.createReadStream(file))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect.poll(fds, { timeout: 20_000 }).toBe(0);
  });

  describe('archive safety', () => {
    const hostile: [string, Parameters<typeof tarBuffer>[0], RegExp][] = [
      ['dot-dot', [{ name: '../evil', type: 'file', body: Buffer.from('x') }], /'\.\.\/evil'.*'\.\.'/],
      ['absolute', [{ name: '/etc/evil', type: 'file', body: Buffer.from('x') }], /absolute path/],
      [
        'write through an archive symlink',
        [
          { name: 'link', type: 'symlink', linkname: '/tmp' },
          { name: 'link/pwned', type: 'file', body: Buffer.from('x') },
        ],
        /'link\/pwned'.*not a directory/,
      ],
      [
        'hard link out of the root',
        [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }],
        /'h'.*'\.\.'/,
      ],
      [
        'hard link to a missing member',
        [{ name: 'h', type: 'link', linkname: 'etc/shadow' }],
        /not an earlier entry/,
      ],
    ];
    for (const [what, entries, msg] of hostile) {
      it(`rejects ${what} and stores nothing`, async () => {
        const { root, store } = await open();
        const tar = await tarBuffer(entries);
        const err = await store.importTar(chunksOf(tar)).catch((e) => e);
        expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
        expect(err.message).toMatch(msg);
        expect(fs.readdirSync(`${root}/layers`)).toEqual([]);
        expect(fs.readdirSync(`${root}/tmp`)).toEqual([]);
        expect(fs.existsSync('/tmp/pwned')).toBe(false);
      });
    }

    it('enforces entry-count, size and compression-ratio limits', async () => {
      const { store } = await open({ limits: { maxEntries: 2, maxTotalBytes: 1000, maxRatio: 50 } });
      const many = await tarBuffer(
        ['a', 'b', 'c'].map((n) => ({ name: n, type: 'file' as const, body: Buffer.from(n) })),
      );
      await expect(store.importTar(chunksOf(many))).rejects.toThrow(/'c'.*more than 2 entries/);
      const big = await tarBuffer([{ name: 'big', type: 'file', body: Buffer.alloc(2000) }]);
      await expect(store.importTar(chunksOf(big))).rejects.toThrow(/'big'.*1000-byte limit/);
      const { store: s2 } = await open({ limits: { maxEntries: 10, maxTotalBytes: 1 << 30, maxRatio: 50 } });
      const bomb = gzipSync(await tarBuffer([{ name: 'zeros', type: 'file', body: Buffer.alloc(64 << 20) }]));
      await expect(s2.importTar(chunksOf(bomb))).rejects.toThrow(/'zeros'.*compression ratio exceeds 50:1/);
    });
  });

  it('sweeps only temp entries of dead processes on open', async () => {
    const { root } = await open();
    fs.mkdirSync(`${root}/tmp/layer-${process.pid}-live`);
    fs.mkdirSync(`${root}/tmp/layer-2147483646-dead`);
    fs.mkdirSync(`${root}/tmp/junk`);
    await LayerStore.open(root);
    expect(fs.readdirSync(`${root}/tmp`)).toEqual([`layer-${process.pid}-live`]);
  });

  it('after kill -9 mid-import, reopening shows no partial layer and no leftovers', async () => {
    const { root } = await open();
    const child = path.join(root, 'child.mjs');
    fs.writeFileSync(
      child,
      `import { LayerStore } from ${JSON.stringify(path.resolve(import.meta.dirname, 'layer-store.ts'))};
       import { tarBuffer } from ${JSON.stringify(path.resolve(import.meta.dirname, 'testing/tar-fixture.ts'))};
       const store = await LayerStore.open(${JSON.stringify(root)});
       const files = Array.from({ length: 200 }, (_, i) => ({ name: 'f' + i, type: 'file', body: Buffer.alloc(4096, i) }));
       const tar = await tarBuffer(files);
       async function* slow() {
         yield tar.subarray(0, tar.length / 2);
         process.stdout.write('half\\n');
         await new Promise(() => {}); // hang: the parent kills us here
       }
       await store.importTar(slow());`,
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
    try {
      await new Promise<void>((resolve, reject) => {
        proc.stdout.on('data', (d) => String(d).includes('half') && resolve());
        proc.on('exit', (c) => reject(new Error(`child exited early (${c})`)));
      });
      expect(fs.readdirSync(`${root}/tmp`)).toHaveLength(1); // the half-built layer
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
    } finally {
      proc.kill('SIGKILL');
    }
    const store = await LayerStore.open(root);
    expect(store.list()).toEqual([]);
    expect(fs.readdirSync(`${root}/layers`)).toEqual([]);
    expect(fs.readdirSync(`${root}/tmp`)).toEqual([]);
  });
});

describe('LayerStore errors', () => {
  it('reports a filesystem failure as a SyscallError naming the call', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-layers-'));
    try {
      const store = await LayerStore.open(root, { durable: false });
      const tar = await tarBuffer([{ name: '.', type: 'file', body: Buffer.from('x') }]);
      await expect(store.importTar(chunksOf(tar))).rejects.toThrow(/layer root must be a directory/);
      // Inject ENOSPC into one mkdir: the error must name the call and the path.
      const orig = fs.mkdirSync;
      const spy = (p: fs.PathLike, o?: fs.MakeDirectoryOptions) => {
        if (String(p).endsWith('/fs/a')) {
          const e = Object.assign(new Error('ENOSPC: no space left on device'), {
            errno: -28,
            code: 'ENOSPC',
            syscall: 'mkdir',
            path: String(p),
          });
          throw e;
        }
        return orig(p, o);
      };
      (fs as { mkdirSync: unknown }).mkdirSync = spy;
      try {
        const t2 = await tarBuffer([{ name: 'a/b', type: 'file', body: Buffer.from('x') }]);
        await expect(store.importTar(chunksOf(t2))).rejects.toMatchObject({
          code: 'SYSCALL',
          syscall: 'mkdir',
          errno: 28,
          message: expect.stringMatching(/^unpack layer: mkdir `.*\/fs\/a`: ENOSPC/),
        });
      } finally {
        (fs as { mkdirSync: unknown }).mkdirSync = orig;
      }
      expect(fs.readdirSync(`${root}/tmp`)).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
