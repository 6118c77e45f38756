import fs from 'node:fs';
import { AlreadyExistsError, InvalidArgumentError, type Mount, NotFoundError } from '@floe/contracts';
import type { ArchiveLimits } from './archive-guard.js';
import { type BaseImageResult, ensureBaseImages } from './base-images.js';
import { type CodeArchiveFormat, type CodeLayer, importCodeArchive } from './code-archive.js';
import { diskUsage, type Usage } from './disk-usage.js';
import { type GcResult, gc } from './gc.js';
import { type Image, ImageStore } from './image-store.js';
import { LayerStore } from './layer-store.js';
import { LeaseManager } from './leases.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import type { FsOps } from './whiteout.js';

export interface SnapshotServiceOptions {
  limits?: ArchiveLimits;
  fsOps?: FsOps;
  durable?: boolean;
}

const CONTAINER_LABEL = 'floe.container';
const containerKey = (id: string) => `container/${id}`;
const containerLease = (id: string) => `container/${id}`;

/**
 * The node-agent's one entry point: image and code import, per-container rootfs mounts with a
 * size cap, leases and GC, all over `<stateDir>/snapshots`.
 *
 * Lifecycle of a container rootfs: `rootfsFor(id, layers, { sizeLimitBytes })` leases the
 * layers and prepares a writable snapshot, returning the mounts for the runtime to perform
 * in the container's mount namespace; `release(id)` removes the snapshot and its lease once
 * the container is gone (call it after the runtime unmounted, or after the namespace died).
 * One process owns a state dir.
 */
export class SnapshotService {
  private constructor(
    readonly root: string,
    readonly layers: LayerStore,
    readonly images: ImageStore,
    readonly snapshotter: OverlaySnapshotter,
    readonly leases: LeaseManager,
  ) {}

  static async open(stateDir: string, opts: SnapshotServiceOptions = {}): Promise<SnapshotService> {
    const root = `${stateDir}/snapshots`;
    fs.mkdirSync(root, { recursive: true });
    const layers = await LayerStore.open(root, opts);
    const images = await ImageStore.open(root, { layers });
    const snapshotter = await OverlaySnapshotter.open(root, { layers, durable: opts.durable });
    return new SnapshotService(root, layers, images, snapshotter, await LeaseManager.open(root));
  }

  importImage(tarPath: string, ref?: string): Promise<Image> {
    return this.images.importArchive(tarPath, ref);
  }

  resolveImage(ref: string): Promise<Image | undefined> {
    return this.images.resolve(ref);
  }

  ensureBaseImages(): Promise<BaseImageResult[]> {
    return ensureBaseImages(this.images);
  }

  /** Import a function's code; lease it (`leaseId`, e.g. `fn/<name>/<version>`) in the same call. */
  async importCode(
    file: string,
    opts: { format?: CodeArchiveFormat; leaseId?: string; durable?: boolean } = {},
  ): Promise<CodeLayer> {
    const layer = await importCodeArchive(this.layers, file, opts.format, { durable: opts.durable });
    if (opts.leaseId) await this.leases.lease(opts.leaseId, [layer.diffID]);
    return layer;
  }

  /**
   * Mounts for a new container's rootfs over `layers` (diffIDs, base first; an image's
   * `layers`, optionally plus a code layer on top). With `sizeLimitBytes` the writable layer
   * is a tmpfs of that size inside the container's mount namespace.
   */
  async rootfsFor(
    containerId: string,
    layers: string[],
    opts: { sizeLimitBytes?: number } = {},
  ): Promise<Mount[]> {
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(containerId)) {
      throw new InvalidArgumentError('containerId', `'${containerId}' must be 1-128 of [A-Za-z0-9_.-]`);
    }
    // Refuse before leasing: the failure path below releases the lease, which must never be
    // the lease of the container that already has this id.
    const exists = await this.snapshotter.stat(containerKey(containerId)).then(
      () => true,
      () => false,
    );
    if (exists) {
      throw new AlreadyExistsError(`rootfs for container ${containerId}: already exists`);
    }
    await this.leases.lease(containerLease(containerId), layers);
    try {
      const parent = await this.snapshotter.ensureChain(layers);
      return await this.snapshotter.prepare(containerKey(containerId), parent, {
        sizeLimitBytes: opts.sizeLimitBytes,
        labels: { [CONTAINER_LABEL]: containerId },
      });
    } catch (e) {
      await this.leases.releaseLease(containerLease(containerId)).catch(() => undefined);
      throw e;
    }
  }

  /** The mounts `rootfsFor` returned, again (after an agent restart, say). */
  mountsFor(containerId: string): Promise<Mount[]> {
    return this.snapshotter.mounts(containerKey(containerId));
  }

  /** Remove a container's writable layer and its lease. Idempotent. */
  async release(containerId: string): Promise<void> {
    await this.snapshotter.remove(containerKey(containerId)).catch((e) => {
      if (!(e instanceof NotFoundError)) throw e;
    });
    await this.leases.releaseLease(containerLease(containerId)).catch((e) => {
      if (!(e instanceof NotFoundError)) throw e;
    });
  }

  /** Container ids with a snapshot: after a restart, release the ones that no longer run. */
  async containers(): Promise<string[]> {
    const out: string[] = [];
    await this.snapshotter.walk((i) => {
      const id = i.labels[CONTAINER_LABEL];
      if (id && i.kind === 'active') out.push(id);
    });
    return out;
  }

  /** Directory of a layer, e.g. a code layer to bind-mount. */
  codeLayerPath(diffID: string): string {
    if (!this.layers.has(diffID)) throw new NotFoundError(`code layer ${diffID}: not found`);
    return this.layers.path(diffID);
  }

  /** A read-only bind of a code layer at `target` (a path the runtime resolves in the container). */
  codeMount(diffID: string, target = '/code'): Mount {
    return {
      type: 'bind',
      source: this.codeLayerPath(diffID),
      target,
      options: ['ro', 'rbind', 'nosuid', 'nodev'],
    };
  }

  gc(opts: { graceMs?: number } = {}): Promise<GcResult> {
    return gc({ images: this.images, snapshotter: this.snapshotter, leases: this.leases, ...opts });
  }

  /** Real disk use of the whole store, hard-linked inodes counted once. */
  usage(): Usage {
    return diskUsage(this.root);
  }
}
