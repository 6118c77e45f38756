import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  type Mount,
  NotFoundError,
} from '@floe/contracts';
import { readJson, writeFileAtomic } from './atomic-file.js';
import { diskUsage } from './disk-usage.js';
import type { LayerStore } from './layer-store.js';
import type { PrepareOptions, SnapshotInfo, SnapshotKind, Snapshotter, Usage } from './snapshotter.js';
import { sweepStaleTemp, tempName } from './stale-temp.js';

/** On-disk record of one snapshot: `snapshots/<id>/meta.json`. */
interface Meta {
  id: string;
  kind: SnapshotKind;
  name: string;
  parent?: string;
  labels: Record<string, string>;
  created: string;
  updated: string;
  /** Committed snapshot whose diff is a LayerStore layer rather than its own `fs/`. */
  layer?: string;
  sizeLimitBytes?: number;
}

export interface OverlaySnapshotterOptions {
  /** Backs layer snapshots made by `ensureChain`. */
  layers?: LayerStore;
  /** fsync metadata on every change. Default true for commit/remove; prepare never waits. */
  durable?: boolean;
}

// The kernel copies mount data into one page: longer option strings fail with EINVAL.
const MOUNT_DATA_MAX = 4095;

/** OCI chain ID of a layer stack (image-spec config.md), base layer first. */
export function chainIDs(diffIDs: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIDs) {
    const prev = out.at(-1);
    out.push(prev ? `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}` : d);
  }
  return out;
}

/**
 * containerd's overlay snapshotter over plain directories.
 *
 * Layout under `root`: `snapshots/<id>/{meta.json, fs/, work/}` for on-disk snapshots,
 * `snapshots/<id>/rw/` as the tmpfs mount point for size-capped ones, `snapshots/.tmp/` for
 * staging. A snapshot is built in `.tmp/` with its meta.json and published by one rename;
 * it is unpublished by renaming it back into `.tmp/` before its directories are deleted, so
 * metadata and directories never disagree after a crash. `open()` sweeps `.tmp/`.
 *
 * Committed snapshots made by `ensureChain` are named by OCI chain ID and point at a
 * LayerStore layer, so every container on an image shares the same lowerdirs.
 */
export class OverlaySnapshotter implements Snapshotter {
  private readonly byName = new Map<string, Meta>();
  private readonly dir: string;
  private readonly tmp: string;

  private constructor(
    readonly root: string,
    private readonly opts: OverlaySnapshotterOptions,
  ) {
    this.dir = `${root}/snapshots`;
    this.tmp = `${root}/snapshots/.tmp`;
  }

  static async open(root: string, opts: OverlaySnapshotterOptions = {}): Promise<OverlaySnapshotter> {
    if (/[:,]/.test(root)) throw new InvalidArgumentError('root', `'${root}' may not contain ':' or ','`);
    const s = new OverlaySnapshotter(root, opts);
    fs.mkdirSync(s.tmp, { recursive: true });
    sweepStaleTemp(s.tmp);
    for (const id of fs.readdirSync(s.dir)) {
      if (id === '.tmp') continue;
      const m = readJson<Meta>(`${s.dir}/${id}/meta.json`);
      if (m) s.byName.set(m.name, m);
      else fs.rmSync(`${s.dir}/${id}`, { recursive: true, force: true });
    }
    return s;
  }

  private get(key: string, op: string): Meta {
    const m = this.byName.get(key);
    if (!m) throw new NotFoundError(`${op} snapshot ${key}: not found`);
    return m;
  }

  private checkNew(key: string, op: string): void {
    if (!key) throw new InvalidArgumentError('key', `${op}: empty snapshot key`);
    if (this.byName.has(key)) throw new AlreadyExistsError(`${op} snapshot ${key}: already exists`);
  }

  private checkParent(parent: string | undefined, op: string, key: string): void {
    if (parent === undefined) return;
    const p = this.byName.get(parent);
    if (!p) throw new NotFoundError(`${op} snapshot ${key}: parent ${parent} not found`);
    if (p.kind !== 'committed') {
      throw new FailedPreconditionError(
        `${op} snapshot ${key}: parent ${parent} is ${p.kind}, not committed`,
      );
    }
  }

  /** Directory holding a snapshot's own diff. */
  diffDir(m: Meta): string {
    if (m.layer) {
      if (!this.opts.layers)
        throw new FailedPreconditionError(`snapshot ${m.name}: no layer store configured`);
      return this.opts.layers.path(m.layer);
    }
    return `${this.dir}/${m.id}/fs`;
  }

  private lowers(parent: string | undefined): string[] {
    const out: string[] = [];
    for (let p = parent; p !== undefined; ) {
      const m = this.byName.get(p);
      if (!m) throw new FailedPreconditionError(`snapshot chain broken at ${p}`);
      out.push(this.diffDir(m)); // immediate parent first: overlay reads lowerdirs left to right, top down
      p = m.parent;
    }
    return out;
  }

  /** Build in `.tmp/`, publish with one rename. */
  private create(m: Meta, dirs: string[]): void {
    const stage = `${this.tmp}/${tempName('new', m.id)}`;
    fs.mkdirSync(stage, { mode: 0o700 });
    for (const d of dirs) fs.mkdirSync(`${stage}/${d}`, { mode: 0o755 });
    // No fsync: an active snapshot does not outlive a host crash in any useful way (its
    // container is gone), and prepare sits on the cold-start path.
    writeFileAtomic(`${stage}/meta.json`, JSON.stringify(m), { fsync: false });
    fs.renameSync(stage, `${this.dir}/${m.id}`);
    this.byName.set(m.name, m);
  }

  private newMeta(kind: SnapshotKind, key: string, parent: string | undefined, labels = {}): Meta {
    const now = new Date().toISOString();
    return {
      id: randomBytes(6).toString('hex'),
      kind,
      name: key,
      parent,
      labels,
      created: now,
      updated: now,
    };
  }

  async prepare(key: string, parent?: string, opts: PrepareOptions = {}): Promise<Mount[]> {
    this.checkNew(key, 'prepare');
    this.checkParent(parent, 'prepare', key);
    const m = this.newMeta('active', key, parent, opts.labels);
    if (opts.sizeLimitBytes !== undefined) {
      if (!Number.isSafeInteger(opts.sizeLimitBytes) || opts.sizeLimitBytes < 4096) {
        throw new InvalidArgumentError(
          'sizeLimitBytes',
          `must be an integer >= 4096, got ${opts.sizeLimitBytes}`,
        );
      }
      m.sizeLimitBytes = opts.sizeLimitBytes;
    }
    const mounts = this.mountsOf(m);
    this.create(m, m.sizeLimitBytes !== undefined ? ['rw'] : ['fs', 'work']);
    return mounts;
  }

  async view(key: string, parent?: string, opts: { labels?: Record<string, string> } = {}): Promise<Mount[]> {
    this.checkNew(key, 'view');
    this.checkParent(parent, 'view', key);
    const m = this.newMeta('view', key, parent, opts.labels);
    const mounts = this.mountsOf(m);
    this.create(m, ['fs']);
    return mounts;
  }

  async mounts(key: string): Promise<Mount[]> {
    const m = this.get(key, 'mounts');
    if (m.kind === 'committed')
      throw new FailedPreconditionError(`mounts of snapshot ${key}: committed snapshots have no mounts`);
    return this.mountsOf(m);
  }

  private mountsOf(m: Meta): Mount[] {
    const lowers = this.lowers(m.parent);
    const own = `${this.dir}/${m.id}`;
    if (m.kind === 'view') {
      if (lowers.length === 0) return [{ type: 'bind', source: `${own}/fs`, options: ['ro', 'rbind'] }];
      if (lowers.length === 1) return [{ type: 'bind', source: lowers[0]!, options: ['ro', 'rbind'] }];
      return [overlay([`lowerdir=${lowers.join(':')}`])];
    }
    if (m.sizeLimitBytes !== undefined) {
      const tmpfs: Mount = {
        type: 'tmpfs',
        source: 'tmpfs',
        options: [`size=${m.sizeLimitBytes}`, 'mode=0755'],
      };
      if (lowers.length === 0) return [tmpfs]; // no parent: the tmpfs is the rootfs
      const rw = `${own}/rw`;
      return [
        { ...tmpfs, target: rw },
        overlay([
          `lowerdir=${lowers.join(':')}`,
          `upperdir=${rw}/upper`,
          `workdir=${rw}/work`,
          `X-floe.mkdir=${rw}/upper`,
          `X-floe.mkdir=${rw}/work`,
        ]),
      ];
    }
    if (lowers.length === 0) return [{ type: 'bind', source: `${own}/fs`, options: ['rw', 'rbind'] }];
    return [overlay([`lowerdir=${lowers.join(':')}`, `upperdir=${own}/fs`, `workdir=${own}/work`])];
  }

  async commit(name: string, key: string, opts: { labels?: Record<string, string> } = {}): Promise<void> {
    const m = this.get(key, 'commit');
    if (m.kind !== 'active')
      throw new FailedPreconditionError(`commit snapshot ${key}: it is ${m.kind}, not active`);
    if (m.sizeLimitBytes !== undefined) {
      throw new FailedPreconditionError(
        `commit snapshot ${key}: its upper dir is a tmpfs in the container's mount namespace; prepare without sizeLimitBytes to build layers`,
      );
    }
    this.checkNew(name, 'commit');
    const c: Meta = { ...m, kind: 'committed', name, labels: { ...m.labels, ...opts.labels } };
    c.updated = new Date().toISOString();
    const dir = `${this.dir}/${m.id}`;
    writeFileAtomic(`${dir}/meta.json`, JSON.stringify(c), { fsync: this.opts.durable !== false });
    this.byName.delete(key);
    this.byName.set(name, c);
    // After the metadata commit: the work dir is scratch space of the overlay only.
    fs.rmSync(`${dir}/work`, { recursive: true, force: true });
  }

  async remove(key: string): Promise<void> {
    const m = this.get(key, 'remove');
    if (m.kind === 'committed') {
      for (const o of this.byName.values()) {
        if (o.parent === key) {
          throw new FailedPreconditionError(`remove snapshot ${key}: snapshot ${o.name} is based on it`);
        }
      }
    }
    const trash = `${this.tmp}/${tempName('rm', m.id)}`;
    // Unpublish (metadata goes with the rename), then delete the directories.
    fs.renameSync(`${this.dir}/${m.id}`, trash);
    this.byName.delete(key);
    fs.rmSync(trash, { recursive: true, force: true });
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return info(this.get(key, 'stat'));
  }

  async usage(key: string): Promise<Usage> {
    const m = this.get(key, 'usage');
    if (m.kind === 'view' || m.sizeLimitBytes !== undefined) return { size: 0, inodes: 0 };
    return diskUsage(this.diffDir(m));
  }

  async walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void> {
    for (const m of [...this.byName.values()]) await fn(info(m));
  }

  /**
   * Committed snapshots for an image's layers (base first), named by chain ID and backed by
   * the LayerStore's directories. Idempotent. Returns the chain ID to use as `parent`.
   */
  async ensureChain(diffIDs: readonly string[]): Promise<string | undefined> {
    const layers = this.opts.layers;
    if (!layers) throw new FailedPreconditionError('ensure chain: no layer store configured');
    const ids = chainIDs(diffIDs);
    ids.forEach((name, i) => {
      if (this.byName.has(name)) return;
      const diffID = diffIDs[i]!;
      if (!layers.has(diffID)) throw new NotFoundError(`ensure chain: layer ${diffID} not found`);
      const m = this.newMeta('committed', name, ids[i - 1], { 'floe.layer': diffID });
      m.layer = diffID;
      this.create(m, []);
    });
    return ids.at(-1);
  }

  /** Snapshot records, for GC (layer-backed committed snapshots carry `layer`). */
  records(): readonly Readonly<Meta>[] {
    return [...this.byName.values()];
  }
}

function overlay(options: string[]): Mount {
  const data = options.filter((o) => !o.startsWith('X-floe.')).join(',');
  if (data.length > MOUNT_DATA_MAX) {
    throw new FailedPreconditionError(
      `overlay mount options are ${data.length} bytes, over the kernel's ${MOUNT_DATA_MAX}: too many layers or too long a root`,
    );
  }
  return { type: 'overlay', source: 'overlay', options };
}

function info(m: Meta): SnapshotInfo {
  return {
    kind: m.kind,
    name: m.name,
    parent: m.parent,
    labels: { ...m.labels },
    created: m.created,
    updated: m.updated,
  };
}
