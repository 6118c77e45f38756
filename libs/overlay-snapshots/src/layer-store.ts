import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { FloeError, InvalidArgumentError, NotFoundError, SyscallError } from '@floe/contracts';
import type { ArchiveLimits } from './archive-guard.js';
import { readJson, writeFileAtomic } from './atomic-file.js';
import { diskUsage } from './disk-usage.js';
import { type UnpackOptions, type UnpackResult, unpackLayer } from './layer-unpack.js';
import { sweepStaleTemp, tempName } from './stale-temp.js';
import { type FsOps, PythonFsOps } from './whiteout.js';

export interface LayerStoreOptions {
  limits?: ArchiveLimits;
  fsOps?: FsOps;
  /**
   * syncfs before a layer is renamed into place, so a power cut never leaves a visible
   * layer with empty files. Default true; tests may turn it off.
   */
  durable?: boolean;
}

/** What the store records about one layer (`layers/<hex>/layer.json`). */
export interface LayerInfo {
  diffID: string;
  /** Disk use of the unpacked tree (du). */
  size: number;
  entries: number;
  fileBytes: number;
  created: string;
}

/** A layer unpacked into a private temp dir, not yet visible. */
export interface StagedLayer extends UnpackResult {
  dir: string;
}

const DIGEST = /^sha256:([a-f0-9]{64})$/;

export function digestHex(d: string, field = 'digest'): string {
  const m = DIGEST.exec(d);
  if (!m) throw new InvalidArgumentError(field, `'${d}' is not a sha256 digest`);
  return m[1]!;
}

/**
 * Content-addressed layer store: `layers/<hex>/fs` is the unpacked diff of the layer whose
 * diffID is `sha256:<hex>`, ready to be an overlay lowerdir. Identical layers are stored once.
 *
 * Lifecycle: a layer is unpacked under `tmp/`, checked, then renamed into `layers/` in one
 * step, so a partial layer is never visible. `open()` deletes whatever a crashed import left
 * in `tmp/` (entries of dead pids only). Removal renames out of `layers/` first, then deletes.
 * Several processes may import into one root; GC and removal assume one owner.
 */
export class LayerStore {
  private constructor(
    readonly root: string,
    private readonly opts: LayerStoreOptions,
  ) {}

  static async open(root: string, opts: LayerStoreOptions = {}): Promise<LayerStore> {
    for (const d of ['layers', 'tmp', 'blobs/sha256']) fs.mkdirSync(`${root}/${d}`, { recursive: true });
    // Leftovers of a crash mid-import or mid-removal: never referenced, safe to drop.
    sweepStaleTemp(`${root}/tmp`);
    for (const d of [root, `${root}/blobs/sha256`]) {
      for (const n of fs.readdirSync(d)) if (n.endsWith('.tmp')) fs.rmSync(`${d}/${n}`, { force: true });
    }
    return new LayerStore(root, opts);
  }

  get fsOps(): FsOps {
    return this.opts.fsOps ?? new PythonFsOps();
  }

  /** A fresh private directory under `tmp/` (same filesystem, so rename works). */
  tempDir(prefix: string): string {
    const d = `${this.root}/tmp/${tempName(prefix, randomBytes(6).toString('hex'))}`;
    fs.mkdirSync(d, { mode: 0o700 });
    return d;
  }

  /** Directory to use as a lowerdir (or bind source) for this layer. */
  path(diffID: string): string {
    return `${this.root}/layers/${digestHex(diffID, 'diffID')}/fs`;
  }

  has(diffID: string): boolean {
    return fs.existsSync(`${this.root}/layers/${digestHex(diffID, 'diffID')}/layer.json`);
  }

  info(diffID: string): LayerInfo | undefined {
    return readJson<LayerInfo>(`${this.root}/layers/${digestHex(diffID, 'diffID')}/layer.json`);
  }

  list(): LayerInfo[] {
    const out: LayerInfo[] = [];
    for (const hex of fs.readdirSync(`${this.root}/layers`)) {
      const i = readJson<LayerInfo>(`${this.root}/layers/${hex}/layer.json`);
      if (i) out.push(i);
    }
    return out;
  }

  /** Unpack into a temp dir. Nothing is visible until `commitStaged`. */
  async stage(raw: AsyncIterable<Buffer>, opts: UnpackOptions = {}): Promise<StagedLayer> {
    const dir = this.tempDir('layer');
    try {
      fs.mkdirSync(`${dir}/fs`, { mode: 0o755 });
      const r = await unpackLayer(raw, `${dir}/fs`, {
        limits: this.opts.limits,
        fsOps: this.fsOps,
        ...opts,
      });
      return { ...r, dir };
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw asFloeError(e, 'unpack layer');
    }
  }

  /** Make a staged layer visible under its diffID (or drop it if that layer exists). */
  commitStaged(s: StagedLayer, opts: { durable?: boolean } = {}): LayerInfo {
    const info = this.describe(s);
    if (!info) return this.info(s.diffID)!;
    // Data first, then the rename that publishes it.
    if ((opts.durable ?? this.opts.durable) !== false) execFileSync('sync', ['-f', `${s.dir}/layer.json`]);
    return this.rename(s, info);
  }

  /**
   * `commitStaged` without blocking the event loop on the sync: pulls publish layers while
   * other layers are still streaming in.
   */
  async publishStaged(s: StagedLayer): Promise<LayerInfo> {
    const info = this.describe(s);
    if (!info) return this.info(s.diffID)!;
    if (this.opts.durable !== false) await this.syncfs();
    return this.rename(s, info);
  }

  private syncRunning?: Promise<void>;
  private syncNext?: Promise<void>;

  /**
   * One syncfs of the store's filesystem that starts after this call. Layers finishing
   * together share one: a sync already running may have missed their data, so they wait for
   * the next one, which every caller that arrives meanwhile shares.
   */
  private syncfs(): Promise<void> {
    const run = () => promisify(execFile)('sync', ['-f', this.root]).then(() => {});
    if (!this.syncRunning) {
      this.syncRunning = run().finally(() => {
        this.syncRunning = undefined;
      });
      return this.syncRunning;
    }
    this.syncNext ??= this.syncRunning
      .catch(() => {})
      .then(() => {
        this.syncNext = undefined;
        return this.syncfs();
      });
    return this.syncNext;
  }

  /** Writes the staged layer's layer.json; undefined (staged copy dropped) if the layer exists. */
  private describe(s: StagedLayer): LayerInfo | undefined {
    const hex = digestHex(s.diffID);
    if (fs.existsSync(`${this.root}/layers/${hex}`)) {
      this.discard(s);
      return undefined;
    }
    const info: LayerInfo = {
      diffID: s.diffID,
      size: diskUsage(`${s.dir}/fs`).size,
      entries: s.entries,
      fileBytes: s.fileBytes,
      created: new Date().toISOString(),
    };
    writeFileAtomic(`${s.dir}/layer.json`, JSON.stringify(info), { fsync: false });
    return info;
  }

  private rename(s: StagedLayer, info: LayerInfo): LayerInfo {
    const dest = `${this.root}/layers/${digestHex(s.diffID)}`;
    try {
      fs.renameSync(s.dir, dest);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      this.discard(s); // lost a race with an identical layer
    }
    return info;
  }

  discard(s: StagedLayer): void {
    fs.rmSync(s.dir, { recursive: true, force: true });
  }

  /** Stage, check the expected diffID if given, commit. */
  async importTar(
    raw: AsyncIterable<Buffer>,
    expectDiffID?: string,
    opts: UnpackOptions & { durable?: boolean } = {},
  ): Promise<LayerInfo> {
    const s = await this.stage(raw, opts);
    if (expectDiffID && s.diffID !== expectDiffID) {
      this.discard(s);
      throw new InvalidArgumentError('layer', `diffID mismatch: expected ${expectDiffID}, got ${s.diffID}`);
    }
    return this.commitStaged(s, { durable: opts.durable });
  }

  /** Unpublish first (rename), then delete: a crash in between leaves only tmp/ garbage. */
  remove(diffID: string): void {
    const dir = `${this.root}/layers/${digestHex(diffID, 'diffID')}`;
    if (!fs.existsSync(dir)) throw new NotFoundError(`remove layer ${diffID}: not found`);
    const trash = `${this.root}/tmp/${tempName('rm', randomBytes(6).toString('hex'))}`;
    fs.renameSync(dir, trash);
    fs.rmSync(trash, { recursive: true, force: true });
  }

  /** Small content-addressed documents (manifests, configs), verified on write. */
  putBlob(digest: string, data: Buffer): void {
    const file = `${this.root}/blobs/sha256/${digestHex(digest)}`;
    if (!fs.existsSync(file)) writeFileAtomic(file, data);
  }

  getBlob(digest: string): Buffer {
    try {
      return fs.readFileSync(`${this.root}/blobs/sha256/${digestHex(digest)}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new NotFoundError(`blob ${digest}: not found`);
      throw e;
    }
  }

  listBlobs(): string[] {
    return fs
      .readdirSync(`${this.root}/blobs/sha256`)
      .filter((n) => !n.endsWith('.tmp'))
      .map((h) => `sha256:${h}`);
  }

  removeBlob(digest: string): void {
    fs.rmSync(`${this.root}/blobs/sha256/${digestHex(digest)}`, { force: true });
  }
}

/** Node's errno errors (ENOSPC, EIO...) as SyscallError naming the call and path. */
export function asFloeError(e: unknown, what: string): unknown {
  if (e instanceof FloeError) return e;
  const n = e as NodeJS.ErrnoException;
  if (typeof n?.errno === 'number' && n.syscall) {
    const err = new SyscallError(n.syscall, Math.abs(n.errno), n.path, what);
    (err as { cause?: unknown }).cause = e;
    return err;
  }
  return e;
}
