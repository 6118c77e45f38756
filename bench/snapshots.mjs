// The layer store's own figures (was a spec inside `npm test`): import throughput of a gzip OCI
// archive and of a plain docker-save, and prepare / remove / mount of a 3-layer rootfs.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { root } from '../scripts/lib/setup.mjs';

const dist = (p) => import(path.join(root, 'libs/overlay-snapshots/dist', p));
const round = (p) => ({ p50: +p.p50.toFixed(3), p90: +p.p90.toFixed(3), p99: +p.p99.toFixed(3) });

export async function snapshots({ work, n, log }) {
  const { ImageStore } = await dist('image-store.js');
  const { OverlaySnapshotter } = await dist('overlay-snapshotter.js');
  const { kernelMountCycles } = await dist('testing/ctypes-mount.js');
  const { mountsUnder, performMounts } = await dist('testing/mount-cli.js');
  const { dockerSaveTar, skopeoCopy, writeOciLayout } = await dist('testing/oci-fixture.js');
  const { tarBuffer } = await dist('testing/tar-fixture.js');
  const { measureImport, measureSnapshotCycle, percentiles } = await dist('bench/snapshot-bench.js');

  const dir = path.join(work, 'snapshots');
  mkdirSync(dir, { recursive: true });
  const images = await ImageStore.open(path.join(dir, 'store'));
  const snaps = await OverlaySnapshotter.open(path.join(dir, 'store'), { layers: images.layers });
  // Three layers of 200 random 64 KiB files each (~38 MB), random so gzip can't shrink them.
  const layers = await Promise.all(
    [0, 1, 2].map((i) =>
      tarBuffer(
        Array.from({ length: 200 }, (_, j) => ({
          name: `l${i}/d${j % 10}/f${j}`,
          type: 'file',
          body: randomBytes(64 * 1024),
        })),
      ),
    ),
  );
  writeOciLayout(path.join(dir, 'layout'), { layers, gzip: true });
  skopeoCopy(`oci:${dir}/layout:latest`, `oci-archive:${dir}/img.tar:latest`);
  const imp = await measureImport(images, `${dir}/img.tar`, 'bench/img:1');
  const big = await tarBuffer(
    Array.from({ length: 4 }, (_, i) => ({ name: `big${i}`, type: 'file', body: randomBytes(16 << 20) })),
  );
  writeFileSync(`${dir}/big.tar`, await dockerSaveTar([big], {}, 'bench/big:1'));
  const impBig = await measureImport(images, `${dir}/big.tar`);
  log(`snapshots: imported ${(imp.bytes / 1e6).toFixed(1)} + ${(impBig.bytes / 1e6).toFixed(1)} MB`);

  const parent = await snaps.ensureChain((await images.resolve('bench/img:1')).layers);
  const cycle = (extra) => measureSnapshotCycle({ snapshotter: snaps, parent, workDir: dir, ...extra });
  const prepOnly = await cycle({ iterations: n });
  const capped = await cycle({ iterations: n, sizeLimitBytes: 64 << 20 });
  const withMount = await cycle({
    iterations: Math.max(10, n >> 3),
    warmup: 3,
    sizeLimitBytes: 64 << 20,
    mount: (m, rootfs) => performMounts(m, rootfs),
  });
  const mounts = await snaps.prepare('kernel', parent, { sizeLimitBytes: 64 << 20 });
  const kernel = percentiles(kernelMountCycles(mounts, path.join(dir, 'bench-rootfs'), n));
  await snaps.remove('kernel');
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`snapshots bench left mounts behind: ${left.join(', ')}`);
  return {
    snapshots: {
      import_gzip_mb_per_s: Math.round(imp.mbPerSec),
      import_plain_mb_per_s: Math.round(impBig.mbPerSec),
      prepare_ms: round(prepOnly.prepare),
      remove_ms: round(prepOnly.remove),
      prepare_capped_ms: round(capped.prepare),
      kernel_mount_umount_ms: round(kernel),
      prepare_mount_umount_mount8_ms: round(withMount.cycle),
    },
  };
}
