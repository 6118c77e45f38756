import type { Mount } from '@floe/contracts';
import type { Usage } from './disk-usage.js';

export type { Usage };

/** containerd's snapshot kinds: active (writable, by key), view (read-only), committed (by name). */
export type SnapshotKind = 'active' | 'view' | 'committed';

export interface SnapshotInfo {
  kind: SnapshotKind;
  /** The key of an active/view snapshot, or the name of a committed one. */
  name: string;
  /** Name of the committed parent, if any. */
  parent?: string;
  labels: Record<string, string>;
  created: string;
  updated: string;
}

export interface PrepareOptions {
  labels?: Record<string, string>;
  /**
   * Cap the writable layer. The upper/work dirs then live in a tmpfs of this size that the
   * mounts create (in the container's mount namespace), so writing past it fails with ENOSPC
   * inside the container and the host disk is never touched. Such a snapshot cannot be
   * committed, and its usage is not visible from the host.
   */
  sizeLimitBytes?: number;
}

/**
 * containerd's Snapshotter contract (snapshots/snapshotter.go), promise-based.
 *
 * Lifecycle: `prepare(key, parent)` makes an active snapshot whose mounts give a writable
 * tree on top of the committed `parent`; `commit(name, key)` turns it into an immutable
 * committed snapshot (the key disappears); `view` gives a read-only tree; `remove` deletes
 * an active/view snapshot or a committed one without children.
 *
 * The snapshotter never mounts: it returns `Mount[]` for the caller (the runtime) to perform
 * in order. Every method that names a missing snapshot rejects with `NotFoundError`; a key
 * or name in use rejects with `AlreadyExistsError`; a wrong-kind use (committing a view,
 * parenting on an active snapshot, removing a parent) rejects with `FailedPreconditionError`.
 */
export interface Snapshotter {
  prepare(key: string, parent?: string, opts?: PrepareOptions): Promise<Mount[]>;
  view(key: string, parent?: string, opts?: { labels?: Record<string, string> }): Promise<Mount[]>;
  commit(name: string, key: string, opts?: { labels?: Record<string, string> }): Promise<void>;
  /** Mounts of an active or view snapshot (the same list prepare/view returned). */
  mounts(key: string): Promise<Mount[]>;
  remove(key: string): Promise<void>;
  stat(key: string): Promise<SnapshotInfo>;
  /** Disk used by this snapshot's own layer (not its parents). */
  usage(key: string): Promise<Usage>;
  walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void>;
}
