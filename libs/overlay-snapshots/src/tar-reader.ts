import { InvalidArgumentError } from '@floe/contracts';
import type { ByteSource } from './byte-source.js';

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One archive member, with PAX and GNU long-name extensions already folded in. */
export interface TarEntry {
  /** Path as written in the archive (not yet normalized or checked). */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (no file-type bits). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch; fractional when a PAX mtime says so. */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** From PAX `SCHILY.xattr.*` (and `LIBARCHIVE.xattr.*`) records. */
  xattrs: Map<string, Buffer>;
  /** Offset of the body in the source, for indexed (seekable) reads. */
  dataOffset: number;
}

const BLOCK = 512;

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return (z === -1 ? s : s.subarray(0, z)).toString('utf8');
}

function num(b: Buffer, off: number, len: number, field: string): number {
  // GNU base-256: high bit of the first byte set, big-endian two's complement.
  if (b[off]! & 0x80) {
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    if (!Number.isSafeInteger(v)) throw new InvalidArgumentError('archive', `${field} out of range`);
    return v;
  }
  const s = cstr(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new InvalidArgumentError('archive', `bad octal ${field} in tar header`);
  return Number.parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const want = num(h, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === want;
}

function parsePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < body.length) {
    const sp = body.indexOf(0x20, off);
    if (sp === -1) break;
    const len = Number.parseInt(body.subarray(off, sp).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0 || off + len > body.length) {
      throw new InvalidArgumentError('archive', 'malformed pax header record');
    }
    const rec = body.subarray(sp + 1, off + len - 1); // drop trailing '\n'
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out.set(rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1)));
    off += len;
  }
  return out;
}

/**
 * Streaming tar reader (ustar, PAX, GNU long names). Call `next()` for each header; the
 * body of the current entry is read with `readBody` or skipped automatically by the
 * following `next()`. Nothing is buffered beyond one chunk of one entry.
 */
export class TarReader {
  private remaining = 0;
  private padding = 0;
  private globalPax = new Map<string, Buffer>();
  private ended = false;

  constructor(private readonly src: ByteSource) {}

  async next(): Promise<TarEntry | null> {
    if (this.ended) return null;
    await this.src.skip(this.remaining + this.padding);
    this.remaining = 0;
    this.padding = 0;
    let pax = new Map<string, Buffer>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const h = await this.src.read(BLOCK);
      if (h.length === 0 || h.every((x) => x === 0)) {
        // One or two zero blocks (or a bare EOF) end the archive.
        this.ended = true;
        return null;
      }
      if (h.length < BLOCK) throw new InvalidArgumentError('archive', 'truncated tar header');
      if (!checksumOk(h)) throw new InvalidArgumentError('archive', 'tar header checksum mismatch');
      const flag = String.fromCharCode(h[156]!);
      const size = num(h, 124, 12, 'size');
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > 16 << 20) throw new InvalidArgumentError('archive', 'tar extension header too large');
        const body = await this.src.read(size);
        if (body.length < size) throw new InvalidArgumentError('archive', 'truncated tar extension header');
        await this.src.skip(pad);
        if (flag === 'x') pax = new Map([...pax, ...parsePax(body)]);
        else if (flag === 'g') this.globalPax = new Map([...this.globalPax, ...parsePax(body)]);
        else if (flag === 'L') longName = cstr(body, 0, body.length);
        else longLink = cstr(body, 0, body.length);
        continue;
      }
      const type = TYPES[flag];
      let name = cstr(h, 0, 100);
      if (h.subarray(257, 262).toString('latin1') === 'ustar') {
        const prefix = cstr(h, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      if (type === undefined) {
        throw new InvalidArgumentError(`archive entry ${name}`, `unsupported tar entry type '${flag}'`);
      }
      const all = new Map([...this.globalPax, ...pax]);
      const str = (k: string) => all.get(k)?.toString('utf8');
      // PAX numbers are decimal text from the archive: a size of NaN or -1 would stall the
      // reader on a body it can never finish, so each must be a plain non-negative integer.
      const paxInt = (k: string, fallback: number) => {
        const v = str(k);
        if (v === undefined) return fallback;
        if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v)))
          throw new InvalidArgumentError(`archive entry ${name}`, `bad pax ${k} '${v.slice(0, 32)}'`);
        return Number(v);
      };
      const paxTime = (k: string, fallback: number) => {
        const v = str(k);
        if (v === undefined) return fallback;
        if (!/^-?\d{1,16}(\.\d{1,9})?$/.test(v))
          throw new InvalidArgumentError(`archive entry ${name}`, `bad pax ${k} '${v.slice(0, 32)}'`);
        return Number(v);
      };
      const xattrs = new Map<string, Buffer>();
      for (const [k, v] of all) {
        if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice(13), v);
        else if (k.startsWith('LIBARCHIVE.xattr.')) {
          let key: string;
          try {
            key = decodeURIComponent(k.slice(17));
          } catch {
            throw new InvalidArgumentError(`archive entry ${name}`, `bad pax xattr name '${k.slice(0, 64)}'`);
          }
          xattrs.set(key, Buffer.from(v.toString('ascii'), 'base64'));
        }
      }
      const entry: TarEntry = {
        name: str('path') ?? longName ?? name,
        type,
        mode: num(h, 100, 8, 'mode') & 0o7777,
        uid: paxInt('uid', num(h, 108, 8, 'uid')),
        gid: paxInt('gid', num(h, 116, 8, 'gid')),
        size: paxInt('size', size),
        mtime: paxTime('mtime', num(h, 136, 12, 'mtime')),
        linkname: str('linkpath') ?? longLink ?? cstr(h, 157, 100),
        devmajor: num(h, 329, 8, 'devmajor'),
        devminor: num(h, 337, 8, 'devminor'),
        xattrs,
        dataOffset: this.src.position,
      };
      // Only regular files carry a body; a hard link's size field is informational.
      const bodySize = type === 'file' ? entry.size : flag === '1' ? 0 : size;
      this.remaining = bodySize;
      this.padding = (BLOCK - (bodySize % BLOCK)) % BLOCK;
      if (type !== 'file') entry.size = 0;
      return entry;
    }
  }

  /** Next chunk of the current entry's body, or null when it is exhausted. */
  async readBody(max = 1 << 20): Promise<Buffer | null> {
    if (this.remaining === 0) return null;
    const b = await this.src.readSome(Math.min(max, this.remaining));
    if (b.length === 0) throw new InvalidArgumentError('archive', 'truncated tar entry body');
    this.remaining -= b.length;
    return b;
  }

  /** Whole body of a small entry (JSON documents), with a size ceiling. */
  async readAll(limit: number): Promise<Buffer> {
    if (this.remaining > limit) throw new InvalidArgumentError('archive', 'entry too large to read');
    const parts: Buffer[] = [];
    for (let b = await this.readBody(); b; b = await this.readBody()) parts.push(b);
    return Buffer.concat(parts);
  }
}
