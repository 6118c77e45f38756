import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { crc32, createInflateRaw } from 'node:zlib';
import { InvalidArgumentError } from '@floe/contracts';
import { type ArchiveLimits, archiveError, DEFAULT_LIMITS } from './archive-guard.js';

/** One member from the central directory (the authoritative listing of a zip). */
export interface ZipEntry {
  name: string;
  dir: boolean;
  symlink: boolean;
  /** Unix permission bits when the archive was made on Unix, else undefined. */
  mode?: number;
  mtime: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const bad = (msg: string) => new InvalidArgumentError('archive', msg);

function dosTime(time: number, date: number): number {
  const d = new Date(
    Date.UTC(
      ((date >> 9) & 0x7f) + 1980,
      ((date >> 5) & 0xf) - 1,
      date & 0x1f,
      (time >> 11) & 0x1f,
      (time >> 5) & 0x3f,
      (time & 0x1f) * 2,
    ),
  );
  return Math.floor(d.getTime() / 1000);
}

/**
 * Random-access zip reader over a file on disk: the central directory is read once, member
 * bodies are streamed (stored or deflate) with CRC and declared-size checks, so a zip bomb is
 * stopped by the bytes it actually produces, not by what its header claims.
 */
export class ZipReader {
  private constructor(
    private readonly file: string,
    private readonly fh: fsp.FileHandle,
    readonly entries: ZipEntry[],
  ) {}

  static async open(file: string, limits: ArchiveLimits = DEFAULT_LIMITS): Promise<ZipReader> {
    const fh = await fsp.open(file, 'r');
    try {
      const size = (await fh.stat()).size;
      const tailLen = Math.min(size, 65_557);
      const tail = Buffer.alloc(tailLen);
      await fh.read(tail, 0, tailLen, size - tailLen);
      let at = -1;
      for (let i = tailLen - 22; i >= 0; i--) {
        if (tail.readUInt32LE(i) === EOCD) {
          at = i;
          break;
        }
      }
      if (at < 0) throw bad('not a zip archive (no end of central directory)');
      let count = tail.readUInt16LE(at + 10);
      let cdSize = tail.readUInt32LE(at + 12);
      let cdOffset = tail.readUInt32LE(at + 16);
      if (at >= 20 && tail.readUInt32LE(at - 20) === EOCD64_LOCATOR) {
        const off = Number(tail.readBigUInt64LE(at - 20 + 8));
        if (off + 56 > size) throw bad('zip64 end of central directory lies outside the file');
        const z = Buffer.alloc(56);
        await fh.read(z, 0, 56, off);
        if (z.readUInt32LE(0) !== EOCD64) throw bad('corrupt zip64 end of central directory');
        count = Number(z.readBigUInt64LE(32));
        cdSize = Number(z.readBigUInt64LE(40));
        cdOffset = Number(z.readBigUInt64LE(48));
      }
      if (count > limits.maxEntries) throw bad(`zip has ${count} entries, more than ${limits.maxEntries}`);
      if (!Number.isSafeInteger(cdOffset + cdSize)) throw bad('zip central directory lies outside the file');
      if (cdOffset + cdSize > size) throw bad('zip central directory lies outside the file');
      const cd = Buffer.alloc(cdSize);
      await fh.read(cd, 0, cdSize, cdOffset);
      const entries: ZipEntry[] = [];
      let p = 0;
      for (let i = 0; i < count; i++) {
        if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL) throw bad('corrupt zip central directory');
        const madeBy = cd.readUInt16LE(p + 4) >> 8;
        const flags = cd.readUInt16LE(p + 8);
        const method = cd.readUInt16LE(p + 10);
        const nameLen = cd.readUInt16LE(p + 28);
        const extraLen = cd.readUInt16LE(p + 30);
        const commentLen = cd.readUInt16LE(p + 32);
        const ext = cd.readUInt32LE(p + 38);
        const name = cd.subarray(p + 46, p + 46 + nameLen).toString('utf8');
        let compressedSize = cd.readUInt32LE(p + 20);
        let usize = cd.readUInt32LE(p + 24);
        let localOffset = cd.readUInt32LE(p + 42);
        // ZIP64 extra field: 64-bit values, only for the fields saturated at 0xffffffff.
        const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
        for (let x = 0; x + 4 <= extra.length; ) {
          const id = extra.readUInt16LE(x);
          const len = extra.readUInt16LE(x + 2);
          if (id === 1) {
            let q = x + 4;
            // Each value is read only if the field's own length holds it.
            const u64 = () => {
              if (q + 8 > Math.min(x + 4 + len, extra.length))
                throw bad(`zip64 extra field of ${name} is too short`);
              const v = extra.readBigUInt64LE(q);
              q += 8;
              if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`zip64 value of ${name} out of range`);
              return Number(v);
            };
            if (usize === 0xffffffff) usize = u64();
            if (compressedSize === 0xffffffff) compressedSize = u64();
            if (localOffset === 0xffffffff) localOffset = u64();
          }
          x += 4 + len;
        }
        if (flags & 1) throw archiveError(name, 'encrypted zip entries are not supported');
        const unixMode = madeBy === 3 ? ext >>> 16 : 0;
        entries.push({
          name,
          dir: name.endsWith('/') || (unixMode & 0o170000) === 0o040000,
          symlink: (unixMode & 0o170000) === 0o120000,
          mode: unixMode ? unixMode & 0o7777 : undefined,
          mtime: dosTime(cd.readUInt16LE(p + 12), cd.readUInt16LE(p + 14)),
          method,
          crc: cd.readUInt32LE(p + 16),
          compressedSize,
          size: usize,
          localOffset,
        });
        p += 46 + nameLen + extraLen + commentLen;
      }
      return new ZipReader(file, fh, entries);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /**
   * Stream one member's bytes. Stops with an error as soon as the output passes the
   * declared size or `maxRatio` times the compressed size; checks the CRC at the end.
   */
  async *body(e: ZipEntry, maxRatio: number): AsyncGenerator<Buffer> {
    if (!Number.isSafeInteger(e.localOffset + e.compressedSize + 65_536 * 2 + 30))
      throw archiveError(e.name, 'zip local header lies outside the file');
    const h = Buffer.alloc(30);
    await this.fh.read(h, 0, 30, e.localOffset);
    if (h.readUInt32LE(0) !== LOCAL) throw archiveError(e.name, 'corrupt zip local header');
    const start = e.localOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
    if (e.size > Math.max(e.compressedSize, 1) * maxRatio && e.size > 1 << 20) {
      throw archiveError(e.name, `compression ratio exceeds ${maxRatio}:1`);
    }
    if (e.compressedSize === 0) {
      if (e.size !== 0) throw archiveError(e.name, 'declared size does not match its data');
      return;
    }
    const raw = fs.createReadStream(this.file, {
      start,
      end: start + e.compressedSize - 1,
      highWaterMark: 1 << 20,
    });
    let src: AsyncIterable<Buffer>;
    if (e.method === 0) src = raw;
    else if (e.method === 8) {
      const inf = createInflateRaw();
      raw.on('error', (err) => inf.destroy(err));
      raw.pipe(inf);
      src = inf;
    } else throw archiveError(e.name, `unsupported zip compression method ${e.method}`);
    let n = 0;
    let crc = 0;
    try {
      for await (const c of src) {
        n += c.length;
        if (n > e.size) throw archiveError(e.name, 'inflates past its declared size');
        crc = crc32(c, crc);
        yield c;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code?.startsWith('Z_')) {
        throw archiveError(e.name, `corrupt deflate data: ${(err as Error).message}`);
      }
      throw err;
    } finally {
      raw.destroy();
    }
    if (n !== e.size) throw archiveError(e.name, `is ${n} bytes, its header says ${e.size}`);
    if (crc >>> 0 !== e.crc >>> 0) throw archiveError(e.name, 'CRC mismatch');
  }

  async readAll(e: ZipEntry, maxRatio: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of this.body(e, maxRatio)) parts.push(c);
    return Buffer.concat(parts);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
