import fs from 'node:fs';
import path from 'node:path';
import type { Mount } from '@floe/contracts';
import type { ImageStore } from '../image-store.js';
import type { Snapshotter } from '../snapshotter.js';

/** Performs mounts (the runtime's FFI mounter in the bench, mount(8) in tests); returns the undo. */
export type Mounter = (
  mounts: Mount[],
  rootfs: string,
) => (() => void | Promise<void>) | Promise<() => void | Promise<void>>;

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export interface SnapshotCycleStats {
  iterations: number;
  /** Milliseconds per step. `mount`/`unmount`/`cycle` only when a mounter was given. */
  prepare: Percentiles;
  remove: Percentiles;
  mount?: Percentiles;
  unmount?: Percentiles;
  /** prepare + mount + unmount. */
  cycle?: Percentiles;
}

export function percentiles(xs: number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

/**
 * Time the container-rootfs hot path: prepare (optionally size-capped) on `parent`, mount,
 * unmount, remove, `iterations` times after `warmup` untimed rounds. Reusable by the
 * platform bench with the runtime's mounter.
 */
export async function measureSnapshotCycle(opts: {
  snapshotter: Snapshotter;
  parent: string;
  workDir: string;
  iterations?: number;
  warmup?: number;
  sizeLimitBytes?: number;
  mount?: Mounter;
}): Promise<SnapshotCycleStats> {
  const n = opts.iterations ?? 200;
  const warmup = opts.warmup ?? 10;
  const rec = {
    prepare: [] as number[],
    mount: [] as number[],
    unmount: [] as number[],
    remove: [] as number[],
  };
  const rootfs = path.join(opts.workDir, 'bench-rootfs');
  fs.mkdirSync(rootfs, { recursive: true });
  for (let i = 0; i < n + warmup; i++) {
    const key = `bench-${process.pid}-${i}`;
    const t0 = performance.now();
    const mounts = await opts.snapshotter.prepare(key, opts.parent, { sizeLimitBytes: opts.sizeLimitBytes });
    const t1 = performance.now();
    let t2 = t1;
    let t3 = t1;
    if (opts.mount) {
      const undo = await opts.mount(mounts, rootfs);
      t2 = performance.now();
      await undo();
      t3 = performance.now();
    }
    await opts.snapshotter.remove(key);
    const t4 = performance.now();
    if (i < warmup) continue;
    rec.prepare.push(t1 - t0);
    rec.mount.push(t2 - t1);
    rec.unmount.push(t3 - t2);
    rec.remove.push(t4 - t3);
  }
  const out: SnapshotCycleStats = {
    iterations: n,
    prepare: percentiles(rec.prepare),
    remove: percentiles(rec.remove),
  };
  if (opts.mount) {
    out.mount = percentiles(rec.mount);
    out.unmount = percentiles(rec.unmount);
    out.cycle = percentiles(rec.prepare.map((p, i) => p + rec.mount[i]! + rec.unmount[i]!));
  }
  return out;
}

/** Import one archive and report throughput over its on-disk size. */
export async function measureImport(
  images: ImageStore,
  archive: string,
  ref?: string,
): Promise<{ ms: number; bytes: number; mbPerSec: number }> {
  const bytes = fs.statSync(archive).size;
  const t0 = performance.now();
  await images.importArchive(archive, ref);
  const ms = performance.now() - t0;
  return { ms, bytes, mbPerSec: bytes / 1e6 / (ms / 1000) };
}
