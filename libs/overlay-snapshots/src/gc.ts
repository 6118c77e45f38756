import type { ImageStore } from './image-store.js';
import type { LeaseManager } from './leases.js';
import type { OverlaySnapshotter } from './overlay-snapshotter.js';

export interface GcOptions {
  images: ImageStore;
  snapshotter?: OverlaySnapshotter;
  leases?: LeaseManager;
  /**
   * Layers younger than this are kept even if unreferenced: a code layer between its import
   * and the caller's lease, say. Default 10 minutes.
   */
  graceMs?: number;
}

export interface GcResult {
  layersRemoved: string[];
  snapshotsRemoved: string[];
  blobsRemoved: string[];
  /** Disk use of the removed layers (du of each at import time). */
  bytesFreed: number;
}

/**
 * Mark and sweep. Roots: every image in the ref index, every lease, every active/view
 * snapshot and every committed snapshot that is not a plain layer (built by commit), with
 * their parent chains. Swept: layer-backed chain snapshots nobody stands on, then layers no
 * root reaches (and older than the grace period), then
 * manifest/config blobs of forgotten images. Runs under the image store's lock so it never
 * races an import between its layer commit and its ref write.
 */
export async function gc(opts: GcOptions): Promise<GcResult> {
  const { images, snapshotter, leases } = opts;
  return images.exclusive(async () => {
    const graceMs = opts.graceMs ?? 10 * 60_000;
    const roots = images.roots();
    for (const d of (await leases?.held()) ?? []) {
      const img = images.tryManifest(d);
      if (img) {
        roots.blobs.add(d);
        roots.blobs.add(img.configDigest);
        for (const l of img.layers) roots.layers.add(l);
      } else roots.layers.add(d);
    }
    const out: GcResult = { layersRemoved: [], snapshotsRemoved: [], blobsRemoved: [], bytesFreed: 0 };

    if (snapshotter) {
      const recs = snapshotter.records();
      const byName = new Map(recs.map((r) => [r.name, r]));
      const needed = new Set<string>();
      const keep = (name: string | undefined) => {
        for (let n = name; n !== undefined && !needed.has(n); n = byName.get(n)?.parent) needed.add(n);
      };
      // Chain snapshots are kept only under live snapshots: ensureChain recreates them in
      // microseconds, and keeping them for a rooted top layer would pin every layer below it.
      for (const r of recs) if (!r.layer) keep(r.name);
      const depth = (n: string) => {
        let d = 0;
        for (let p = byName.get(n)?.parent; p !== undefined; p = byName.get(p)?.parent) d++;
        return d;
      };
      const doomed = recs.filter((r) => !needed.has(r.name)).sort((a, b) => depth(b.name) - depth(a.name));
      for (const r of doomed) {
        await snapshotter.remove(r.name);
        out.snapshotsRemoved.push(r.name);
      }
      for (const r of snapshotter.records()) if (r.layer) roots.layers.add(r.layer);
    }

    const now = Date.now();
    for (const info of images.layers.list()) {
      if (roots.layers.has(info.diffID)) continue;
      if (now - Date.parse(info.created) < graceMs) continue;
      images.layers.remove(info.diffID);
      out.layersRemoved.push(info.diffID);
      out.bytesFreed += info.size;
    }
    for (const b of images.layers.listBlobs()) {
      if (roots.blobs.has(b)) continue;
      images.layers.removeBlob(b);
      out.blobsRemoved.push(b);
    }
    return out;
  });
}
