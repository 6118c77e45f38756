import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InvalidArgumentError } from '@floe/contracts';
import {
  ArchiveGuard,
  type ArchiveLimits,
  archiveError,
  DEFAULT_LIMITS,
  safeEntryPath,
} from './archive-guard.js';
import { StreamSource } from './byte-source.js';
import { type TarEntry, TarReader } from './tar-reader.js';
import { classifyWhiteout, type FsOp, type FsOps, OVERLAY_OPAQUE_XATTR, PythonFsOps } from './whiteout.js';

export interface UnpackOptions {
  limits?: ArchiveLimits;
  fsOps?: FsOps;
  /**
   * Keep archive uid/gid and modes (image layers), or make everything root-owned with modes
   * 0755 (dirs, executables) / 0644 (code archives: readable by any container user, no setuid).
   * Code archives also keep `.wh.` names literally and may not contain device nodes.
   */
  ownership?: 'preserve' | 'root';
}

export interface UnpackResult {
  /** sha256 of the uncompressed tar: the layer's diffID. */
  diffID: string;
  /** sha256 and length of the bytes as given (equal to diffID when not compressed). */
  blobDigest: string;
  blobSize: number;
  entries: number;
  /** Regular-file bytes written. */
  fileBytes: number;
}

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];

async function* tap(src: AsyncIterable<Buffer>, hash: Hash, count: { n: number }): AsyncGenerator<Buffer> {
  for await (const c of src) {
    hash.update(c);
    count.n += c.length;
    yield c;
  }
}

/** Decompress by magic number (gzip or plain), hashing both sides as bytes flow. */
function decode(raw: AsyncIterable<Buffer>) {
  const blobHash = createHash('sha256');
  const blob = { n: 0 };
  const tarHash = createHash('sha256');
  const tar = { n: 0 };
  let gz: ReturnType<typeof createGunzip> | undefined;
  const stream = (async function* () {
    const it = tap(raw, blobHash, blob)[Symbol.asyncIterator]();
    const first = await it.next();
    const head: Buffer = first.done ? Buffer.alloc(0) : first.value;
    const rest = (async function* () {
      if (head.length) yield head;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    })();
    if (ZSTD.every((b, i) => head[i] === b)) {
      throw new InvalidArgumentError('layer', 'zstd-compressed layers are not supported');
    }
    if (GZIP.every((b, i) => head[i] === b)) {
      // 256 KiB out per chunk, not 16: a tenth of the write calls when a layer is unpacked.
      const z = createGunzip({ chunkSize: 256 << 10 });
      gz = z;
      const src = Readable.from(rest);
      src.on('error', (e) => z.destroy(e));
      src.pipe(z);
      try {
        yield* z as AsyncIterable<Buffer>;
      } catch (e) {
        // zlib's own errors say nothing about which input; name it as a bad layer.
        if ((e as NodeJS.ErrnoException).code?.startsWith('Z_')) {
          throw new InvalidArgumentError('layer', `corrupt gzip stream: ${(e as Error).message}`);
        }
        throw e;
      }
    } else {
      yield* rest;
    }
  })();
  return {
    stream: tap(stream, tarHash, tar),
    done: () => ({
      diffID: `sha256:${tarHash.digest('hex')}`,
      blobDigest: `sha256:${blobHash.digest('hex')}`,
      blobSize: blob.n,
      tarSize: tar.n,
    }),
    compressedBytes: () => blob.n,
    /** Release the input early (on failure): a paused file stream would hold its fd. */
    close: () => {
      gz?.destroy();
      (raw as { destroy?: () => void }).destroy?.();
    },
  };
}

/**
 * Unpack one layer tar (plain or gzip) into `dest`, an empty directory the caller owns
 * (a temp dir that it renames into place only once the returned digests check out).
 * OCI whiteouts become overlay whiteouts (0/0 char devices) and opaque xattrs.
 *
 * Safety: every member path is normalized and refused if it leaves the root; every parent
 * directory is one this call created itself (so no symlink from the archive is ever
 * traversed); files are opened O_EXCL|O_NOFOLLOW; hard links must name an earlier
 * non-directory member.
 */
export async function unpackLayer(
  raw: AsyncIterable<Buffer>,
  dest: string,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  const dec = decode(raw);
  const src = new StreamSource(dec.stream);
  const guard = new ArchiveGuard(opts.limits ?? DEFAULT_LIMITS, dec.compressedBytes);
  const x = new Extractor(dest, guard, opts.ownership ?? 'preserve');
  const reader = new TarReader(src);
  try {
    for (let e = await reader.next(); e; e = await reader.next()) await x.entry(e, reader, src);
    // The diffID covers the whole stream, trailing zero blocks included.
    while ((await src.readSome(1 << 20)).length > 0);
  } finally {
    dec.close();
  }
  await (opts.fsOps ?? new PythonFsOps()).apply(x.pendingOps());
  x.finish();
  const d = dec.done();
  return {
    diffID: d.diffID,
    blobDigest: d.blobDigest,
    blobSize: d.blobSize,
    entries: guard.entries,
    fileBytes: guard.totalBytes,
  };
}

/** Digests of a layer blob without unpacking it (for layers already in the store). */
export async function digestLayer(
  raw: AsyncIterable<Buffer>,
): Promise<Omit<UnpackResult, 'entries' | 'fileBytes'>> {
  const dec = decode(raw);
  try {
    for await (const _ of dec.stream);
  } finally {
    dec.close();
  }
  const { diffID, blobDigest, blobSize } = dec.done();
  return { diffID, blobDigest, blobSize };
}

type Kind = 'dir' | 'file' | 'other' | 'node';

/** Extracts tar members into a fresh directory; see `unpackLayer` for the safety rules. */
export class Extractor {
  private readonly known = new Map<string, Kind>([['', 'dir']]);
  private readonly ops = new Map<string, FsOp[]>();
  private readonly dirTimes: [string, number][] = [];

  constructor(
    private readonly root: string,
    private readonly guard: ArchiveGuard,
    private readonly ownership: 'preserve' | 'root',
  ) {}

  pendingOps(): FsOp[] {
    return [...this.ops.values()].flat();
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  private pushOp(rel: string, op: FsOp): void {
    const list = this.ops.get(rel);
    if (list) list.push(op);
    else this.ops.set(rel, [op]);
  }

  private ensureParents(name: string, rel: string): void {
    let cur = '';
    const parts = rel.split('/');
    for (let i = 0; i < parts.length - 1; i++) {
      cur = cur ? `${cur}/${parts[i]}` : parts[i]!;
      const k = this.known.get(cur);
      if (k === 'dir') continue;
      if (k !== undefined)
        throw archiveError(name, `parent '${cur}' is not a directory (would write through it)`);
      fs.mkdirSync(this.abs(cur), { mode: 0o755 });
      this.known.set(cur, 'dir');
    }
  }

  /** Clear whatever an earlier member left at `rel`, unless both are directories. */
  private clear(rel: string, newIsDir: boolean): void {
    const k = this.known.get(rel);
    if (k === undefined || (k === 'dir' && newIsDir)) return;
    if (rel === '') return;
    fs.rmSync(this.abs(rel), { recursive: true, force: true });
    for (const key of [...this.known.keys()]) {
      if (key === rel || key.startsWith(`${rel}/`)) {
        this.known.delete(key);
        this.ops.delete(key);
      }
    }
  }

  private owner(e: TarEntry): [number, number] {
    return this.ownership === 'root' ? [0, 0] : [e.uid, e.gid];
  }

  private modeOf(e: TarEntry): number {
    if (this.ownership === 'preserve') return e.mode;
    return e.type === 'dir' || e.mode & 0o111 ? 0o755 : 0o644;
  }

  async entry(e: TarEntry, reader: TarReader, src: { position: number }): Promise<void> {
    const rel = safeEntryPath(e.name);
    this.guard.entry(e.name, e.size);
    if (rel === '' && e.type !== 'dir')
      throw archiveError(e.name, `the layer root must be a directory, not a ${e.type}`);
    const slash = rel.lastIndexOf('/');
    const dir = slash === -1 ? '' : rel.slice(0, slash);
    const wh: ReturnType<typeof classifyWhiteout> =
      this.ownership === 'root'
        ? { kind: 'none' }
        : classifyWhiteout(slash === -1 ? rel : rel.slice(slash + 1));
    if (wh.kind === 'opaque') {
      this.ensureParents(e.name, `${rel}`);
      this.pushOp(dir, {
        op: 'setxattr',
        path: this.abs(dir),
        name: OVERLAY_OPAQUE_XATTR,
        value: Buffer.from('y'),
      });
      return;
    }
    if (wh.kind === 'whiteout') {
      if (wh.name === '' || wh.name.startsWith('.wh.')) return; // other AUFS metadata (.wh..wh.plnk...)
      const target = dir ? `${dir}/${wh.name}` : wh.name;
      this.ensureParents(e.name, target);
      this.clear(target, false);
      const [uid, gid] = this.owner(e);
      this.pushOp(target, {
        op: 'mknod',
        path: this.abs(target),
        kind: 'char',
        mode: 0,
        major: 0,
        minor: 0,
        uid,
        gid,
        mtime: e.mtime,
      });
      this.known.set(target, 'node');
      return;
    }
    this.ensureParents(e.name, rel);
    this.clear(rel, e.type === 'dir');
    const p = this.abs(rel);
    const [uid, gid] = this.owner(e);
    switch (e.type) {
      case 'dir':
        if (!this.known.has(rel)) fs.mkdirSync(p, { mode: 0o700 });
        this.known.set(rel, 'dir');
        fs.lchownSync(p, uid, gid);
        fs.chmodSync(p, this.modeOf(e));
        this.dirTimes.push([rel, e.mtime]);
        break;
      case 'file': {
        const fd = fs.openSync(
          p,
          fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
          0o600,
        );
        this.known.set(rel, 'file');
        try {
          for (let b = await reader.readBody(); b; b = await reader.readBody()) {
            fs.writeSync(fd, b);
            this.guard.ratio(e.name, src.position);
          }
          fs.fchownSync(fd, uid, gid);
          fs.fchmodSync(fd, this.modeOf(e)); // after chown, which clears setuid/setgid
          fs.futimesSync(fd, e.mtime, e.mtime);
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 'symlink':
        fs.symlinkSync(e.linkname, p);
        this.known.set(rel, 'other');
        fs.lchownSync(p, uid, gid);
        fs.lutimesSync(p, e.mtime, e.mtime);
        break;
      case 'link': {
        let target: string;
        try {
          target = safeEntryPath(e.linkname);
        } catch {
          throw archiveError(
            e.name,
            `hard link target '${e.linkname}' is outside the layer root ('..' or absolute)`,
          );
        }
        const k = this.known.get(target);
        if (k === undefined)
          throw archiveError(e.name, `hard link target '${e.linkname}' is not an earlier entry`);
        if (k === 'dir') throw archiveError(e.name, `hard link to directory '${e.linkname}'`);
        if (k === 'node')
          throw archiveError(e.name, `hard link to device node '${e.linkname}' is not supported`);
        // link(2) does not follow a symlink at the target, and every parent was made by us.
        fs.linkSync(this.abs(target), p);
        this.known.set(rel, k);
        break;
      }
      default:
        if (this.ownership === 'root')
          throw archiveError(e.name, `${e.type} nodes are not allowed in code archives`);
        this.pushOp(rel, {
          op: 'mknod',
          path: p,
          kind: e.type,
          mode: this.modeOf(e),
          major: e.devmajor,
          minor: e.devminor,
          uid,
          gid,
          mtime: e.mtime,
        });
        this.known.set(rel, 'node');
    }
    for (const [name, value] of e.xattrs) this.pushOp(rel, { op: 'setxattr', path: p, name, value });
  }

  /** Directory mtimes last, deepest first: creating children bumps a parent's mtime. */
  finish(): void {
    const live = this.dirTimes.filter(([rel]) => this.known.get(rel) === 'dir');
    live.sort((a, b) => b[0].split('/').length - a[0].split('/').length);
    for (const [rel, t] of live) fs.utimesSync(this.abs(rel), t, t);
  }
}
