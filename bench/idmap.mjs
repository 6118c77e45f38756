// What sharing image layers with user-namespaced functions costs: idmapped mounts (the chosen
// way: one userns fd per host id range, one idmapped mount per range and layer, no file
// copied) against the alternative without them, a chowned copy of the layers per range.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { root } from '../scripts/lib/setup.mjs';
import { summary } from './stats.mjs';

const du = (p) => Number(execFileSync('du', ['-sb', p], { encoding: 'utf8' }).split('\t')[0]);

export async function idmap({ work, n, log }) {
  const { HostMountsFfi } = await import(path.join(root, 'libs/runtime/dist/index.js'));
  const { SnapshotService } = await import(path.join(root, 'libs/overlay-snapshots/dist/index.js'));
  const service = await SnapshotService.open(path.join(work, 'idmap-layers'));
  await service.ensureBaseImages();
  const image = await service.resolveImage('floe/node:latest');
  const layerDirs = image.layers.map((l) => service.layers.path(l));
  const mounts = new HostMountsFfi();
  const dir = path.join(work, 'idmap');
  const nsMs = [];
  const mountMs = [];
  const copyMs = [];
  let copyBytes = 0;
  log(`idmap: ${n} host id ranges × ${layerDirs.length} node image layer(s), idmapped mount vs chowned copy`);
  for (let i = 0; i < n; i++) {
    const base = (1 << 30) + i * 65536;
    let t = performance.now();
    const fd = mounts.userNamespace([{ inside: 0, host: base, size: 65536 }]);
    nsMs.push(performance.now() - t);
    try {
      for (const [j, src] of layerDirs.entries()) {
        const target = path.join(dir, String(i), String(j));
        mkdirSync(target, { recursive: true });
        t = performance.now();
        mounts.bindIdmapped(src, target, fd);
        mountMs.push(performance.now() - t);
        mounts.detach(target);
      }
    } finally {
      closeSync(fd);
    }
    // Without idmapped mounts, each range needs its own copy of every layer, chowned.
    if (i < Math.min(n, 3)) {
      const copy = path.join(dir, `copy-${i}`);
      t = performance.now();
      for (const src of layerDirs) {
        mkdirSync(copy, { recursive: true });
        execFileSync('cp', ['-a', `${src}/.`, copy]);
      }
      execFileSync('chown', ['-R', '-h', `${base}:${base}`, copy]);
      copyMs.push(performance.now() - t);
      copyBytes = du(copy);
      rmSync(copy, { recursive: true, force: true });
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    idmap: {
      layers: layerDirs.length,
      userns_fd_ms: summary(nsMs),
      idmapped_mount_ms: summary(mountMs),
      idmapped_extra_bytes_per_range: 0,
      chowned_copy_ms: summary(copyMs),
      chowned_copy_bytes_per_range: copyBytes,
    },
  };
}
