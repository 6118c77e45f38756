import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { FloeError } from '@floe/contracts';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamSource } from './byte-source.js';
import { importCodeArchive } from './code-archive.js';
import { LayerStore } from './layer-store.js';
import { TarReader } from './tar-reader.js';
import type { TarWriteEntry } from './tar-writer.js';
import { chunksOf, tarBuffer } from './testing/tar-fixture.js';
import { ZipReader } from './zip-reader.js';

/** A stored-method zip of `files`, written by hand so runs need no subprocess. */
function zipBuffer(files: Array<{ name: string; body: Buffer }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let off = 0;
  for (const f of files) {
    const name = Buffer.from(f.name);
    const crc = crc32(f.body) >>> 0;
    const l = Buffer.alloc(30);
    l.writeUInt32LE(0x04034b50, 0);
    l.writeUInt16LE(20, 4);
    l.writeUInt32LE(crc, 14);
    l.writeUInt32LE(f.body.length, 18);
    l.writeUInt32LE(f.body.length, 22);
    l.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE((3 << 8) | 20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(0x21, 12);
    c.writeUInt16LE(0x21, 14);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(f.body.length, 20);
    c.writeUInt32LE(f.body.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE((0o100644 << 16) >>> 0, 38);
    c.writeUInt32LE(off, 42);
    locals.push(l, name, f.body);
    centrals.push(c, name);
    off += 30 + name.length + f.body.length;
  }
  const cd = Buffer.concat(centrals);
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  e.writeUInt16LE(files.length, 8);
  e.writeUInt16LE(files.length, 10);
  e.writeUInt32LE(cd.length, 12);
  e.writeUInt32LE(off, 16);
  return Buffer.concat([...locals, cd, e]);
}

/** A PAX extended header ('x') carrying `records` for the entry after it. */
function paxHeader(records: Array<[string, string]>): Buffer {
  const body = Buffer.concat(
    records.map(([k, v]) => {
      const rest = ` ${k}=${v}\n`;
      let len = Buffer.byteLength(rest) + 1;
      while (String(len).length + Buffer.byteLength(rest) !== len)
        len = String(len).length + Buffer.byteLength(rest);
      return Buffer.from(`${len}${rest}`);
    }),
  );
  const h = Buffer.alloc(512);
  h.write('PaxHeader', 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('x', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([h, body, pad]);
}

/**
 * A one-file zip whose central entry has the sizes/offset at `saturate` set to 0xffffffff and
 * `extra` as a zip64 (id 1) extra field: lengths and values as hostile as they come.
 */
function zip64Poison(
  files: Array<{ name: string; body: Buffer }>,
  p: { extra: Uint8Array; saturate: number[] },
): Buffer {
  const zip = zipBuffer(files.slice(0, 1));
  const cdOffset = zip.readUInt32LE(zip.length - 6);
  const nameLen = zip.readUInt16LE(cdOffset + 28);
  const head = Buffer.from(zip.subarray(cdOffset, cdOffset + 46 + nameLen));
  for (const at of p.saturate) head.writeUInt32LE(0xffffffff, at);
  const field = Buffer.alloc(4);
  field.writeUInt16LE(1, 0);
  field.writeUInt16LE(p.extra.length, 2);
  const extra = Buffer.concat([field, Buffer.from(p.extra)]);
  head.writeUInt16LE(extra.length, 30);
  const cd = Buffer.concat([head, extra]);
  const eocd = Buffer.from(zip.subarray(zip.length - 22));
  eocd.writeUInt32LE(cd.length, 12);
  return Buffer.concat([zip.subarray(0, cdOffset), cd, eocd]);
}

const fileName = fc.stringMatching(/^[a-z]{1,8}(\/[a-z]{1,8}){0,2}$/);
const body = fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a));
const paxKey = fc.constantFrom('size', 'uid', 'gid', 'mtime', 'path', 'linkpath', 'LIBARCHIVE.xattr.%zz');
const paxValue = fc.oneof(
  fc.constantFrom('-1', 'NaN', '1e400', '9007199254740993', '0.5', 'x', ''),
  fc.string(),
);

const tarEntries = fc.array(
  fc.oneof(
    fc.record({ name: fileName, body }).map((e): TarWriteEntry => ({ ...e, type: 'file' })),
    fileName.map((name): TarWriteEntry => ({ name, type: 'dir' })),
    fc
      .record({ name: fileName, linkname: fc.string({ maxLength: 40 }) })
      .map((e): TarWriteEntry => ({ ...e, type: 'symlink' })),
  ),
  { minLength: 1, maxLength: 5 },
);

/** Overwrites a few bytes, truncates, or splices a PAX record in: what a hostile archive does. */
const mutation = fc.record({
  flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
  cut: fc.option(fc.nat()),
});
function mutate(buf: Buffer, m: { flips: [number, number][]; cut: number | null }): Buffer {
  let out = Buffer.from(buf);
  for (const [i, v] of m.flips) out[i % out.length] = v;
  if (m.cut !== null) out = out.subarray(0, m.cut % (out.length + 1));
  return out;
}

/** Expects `run` to finish (fast-check's timeout catches a hang) with success or a FloeError. */
async function typedOrOk(run: () => Promise<unknown>): Promise<'ok' | FloeError> {
  try {
    await run();
    return 'ok';
  } catch (e) {
    expect(e, String((e as Error)?.stack ?? e)).toBeInstanceOf(FloeError);
    return e as FloeError;
  }
}

async function readTar(buf: Buffer): Promise<void> {
  const r = new TarReader(new StreamSource(chunksOf(buf, 777)));
  for (let e = await r.next(); e; e = await r.next()) {
    for (let b = await r.readBody(); b; b = await r.readBody()) {}
  }
}

describe('archive readers (property-based)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-archive-prop-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('TarReader: random, mutated and PAX-poisoned tars end in entries or a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(
        tarEntries,
        mutation,
        fc.array(fc.tuple(paxKey, paxValue), { maxLength: 3 }),
        fc.boolean(),
        async (entries, m, pax, random) => {
          const tar = Buffer.concat([
            pax.length ? paxHeader(pax) : Buffer.alloc(0),
            await tarBuffer(entries),
          ]);
          const buf = random
            ? Buffer.from(fc.sample(fc.uint8Array({ maxLength: 3000 }), 1)[0]!)
            : mutate(tar, m);
          await typedOrOk(() => readTar(buf));
        },
      ),
      { timeout: 5000, numRuns: 300 },
    );
  });

  it('ZipReader: mutated and zip64-poisoned zips end in entries or a typed error', async () => {
    const file = path.join(dir, 'z.zip');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ name: fileName, body }), { minLength: 1, maxLength: 4 }),
        mutation,
        fc.option(
          fc.record({ extra: fc.uint8Array({ maxLength: 30 }), saturate: fc.subarray([20, 24, 42]) }),
        ),
        async (files, m, zip64) => {
          fs.writeFileSync(file, mutate(zip64 ? zip64Poison(files, zip64) : zipBuffer(files), m));
          await typedOrOk(async () => {
            const z = await ZipReader.open(file);
            try {
              for (const e of z.entries) await z.readAll(e, 100);
            } finally {
              await z.close();
            }
          });
        },
      ),
      { timeout: 5000, numRuns: 300 },
    );
  });

  it('importCodeArchive: a rejected archive stores no layer and leaves no temp files', async () => {
    const store = await LayerStore.open(path.join(dir, 'store'));
    const file = path.join(dir, 'code.archive');
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(fc.record({ name: fileName, body }), { minLength: 1, maxLength: 4 }),
        mutation,
        async (zip, files, m) => {
          const clean = zip
            ? zipBuffer(files)
            : await tarBuffer(files.map((f): TarWriteEntry => ({ ...f, type: 'file' })));
          fs.writeFileSync(file, mutate(clean, m));
          const before = store.list().map((l) => l.diffID);
          const r = await typedOrOk(() => importCodeArchive(store, file));
          if (r !== 'ok') expect(store.list().map((l) => l.diffID)).toEqual(before);
          expect(fs.readdirSync(path.join(dir, 'store', 'tmp'))).toEqual([]);
        },
      ),
      { timeout: 10_000, numRuns: 150 },
    );
  });
});
