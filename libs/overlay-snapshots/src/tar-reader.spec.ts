import { describe, expect, it } from 'vitest';
import { StreamSource } from './byte-source.js';
import { TarReader } from './tar-reader.js';
import { chunksOf, tarBuffer } from './testing/tar-fixture.js';

describe(TarReader.name, () => {
  it('reads back what TarWriter wrote, PAX long names and xattrs included', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    const buf = await tarBuffer([
      { name: 'dir', type: 'dir', mode: 0o750, uid: 7, gid: 8, mtime: 1000 },
      { name: 'dir/file', type: 'file', body: Buffer.from('hello'), mode: 0o4755, mtime: 1234 },
      { name: long, type: 'file', body: Buffer.alloc(70_000, 7) },
      { name: 'ln', type: 'symlink', linkname: `/${'t'.repeat(200)}` },
      { name: 'hard', type: 'link', linkname: 'dir/file' },
      {
        name: 'x',
        type: 'file',
        body: Buffer.from(''),
        xattrs: new Map([['user.k', Buffer.from([0, 1, 2])]]),
      },
    ]);
    const r = new TarReader(new StreamSource(chunksOf(buf, 1000)));
    const got: unknown[] = [];
    for (let e = await r.next(); e; e = await r.next()) {
      const body = e.type === 'file' ? await r.readAll(1 << 20) : undefined;
      got.push({
        name: e.name,
        type: e.type,
        mode: e.mode,
        size: e.size,
        link: e.linkname,
        body: body?.length,
        x: e.xattrs,
      });
    }
    expect(got).toEqual([
      { name: 'dir/', type: 'dir', mode: 0o750, size: 0, link: '', body: undefined, x: new Map() },
      { name: 'dir/file', type: 'file', mode: 0o4755, size: 5, link: '', body: 5, x: new Map() },
      { name: long, type: 'file', mode: 0o644, size: 70_000, link: '', body: 70_000, x: new Map() },
      {
        name: 'ln',
        type: 'symlink',
        mode: 0o644,
        size: 0,
        link: `/${'t'.repeat(200)}`,
        body: undefined,
        x: new Map(),
      },
      { name: 'hard', type: 'link', mode: 0o644, size: 0, link: 'dir/file', body: undefined, x: new Map() },
      {
        name: 'x',
        type: 'file',
        mode: 0o644,
        size: 0,
        link: '',
        body: 0,
        x: new Map([['user.k', Buffer.from([0, 1, 2])]]),
      },
    ]);
  });

  it('skips unread bodies and rejects a corrupted header', async () => {
    const buf = await tarBuffer([
      { name: 'a', type: 'file', body: Buffer.alloc(3000, 1) },
      { name: 'b', type: 'file', body: Buffer.from('b') },
    ]);
    const r = new TarReader(new StreamSource(chunksOf(buf)));
    expect((await r.next())?.name).toBe('a');
    expect((await r.next())?.name).toBe('b');
    expect(await r.next()).toBeNull();
    const bad = Buffer.from(buf);
    bad[10] = 0x41;
    await expect(new TarReader(new StreamSource(chunksOf(bad))).next()).rejects.toThrow(/checksum/);
  });
});
