// Pull of a ~50 MB image (five 10 MB incompressible layers) from a local docker-registry:
// Floe's ImagePuller (download, verify, unpack into the layer store) against
// `skopeo copy docker://... oci:dir` (download and verify only) of the same image, same run,
// interleaved. Floe is also timed without its syncfs (durable: false) to show what that costs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ImagePuller, ImageStore, RegistryClient } from '@floe/overlay-snapshots';
import { writeOciLayout } from '../libs/overlay-snapshots/dist/testing/oci-fixture.js';
import {
  missingRegistryTools,
  pushImage,
  randomLayer,
  startRegistry,
} from '../libs/overlay-snapshots/dist/testing/registry.js';

const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

export async function imagePull({ work, n, log }) {
  const missing = missingRegistryTools();
  if (missing) throw new Error(`image pull bench needs ${missing}`);
  const dir = path.join(work, 'image-pull');
  const reg = await startRegistry(path.join(dir, 'registry'));
  try {
    const layout = path.join(dir, 'layout');
    const layers = [];
    for (let i = 0; i < 5; i++) layers.push(await randomLayer(`l${i}`, 10 << 20));
    writeOciLayout(layout, { layers, gzip: true });
    await pushImage(reg, `oci:${layout}:latest`, 'bench/img:1');
    const ref = `${reg.host}/bench/img:1`;
    const pull = async (root, durable) => {
      mkdirSync(root, { recursive: true });
      const store = await ImageStore.open(root, { durable });
      const client = new RegistryClient();
      const t = process.hrtime.bigint();
      await new ImagePuller(store, client).pull(ref);
      const took = ms(t);
      client.close();
      rmSync(root, { recursive: true, force: true });
      return took;
    };
    const floe = [];
    const nosync = [];
    const skopeo = [];
    for (let i = 0; i < n; i++) {
      const out = path.join(dir, `skopeo-${i}`);
      const t = process.hrtime.bigint();
      execFileSync('skopeo', [
        '--insecure-policy',
        'copy',
        '-q',
        '--src-tls-verify=false',
        `docker://${ref}`,
        `oci:${out}`,
      ]);
      skopeo.push(ms(t));
      rmSync(out, { recursive: true, force: true });
      floe.push(await pull(path.join(dir, `floe-${i}`), true));
      nosync.push(await pull(path.join(dir, `nosync-${i}`), false));
      log(
        `image pull ${i + 1}/${n}: floe ${floe.at(-1).toFixed(0)} ms (no syncfs ${nosync.at(-1).toFixed(0)}), skopeo ${skopeo.at(-1).toFixed(0)} ms`,
      );
    }
    const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const bytes = layers.reduce((s, l) => s + l.length, 0);
    return {
      image_pull: {
        image_mib: Math.round(bytes / 2 ** 20),
        runs: n,
        floe_ms_p50: Math.round(med(floe)),
        floe_nosync_ms_p50: Math.round(med(nosync)),
        skopeo_ms_p50: Math.round(med(skopeo)),
        ratio: Number((med(floe) / med(skopeo)).toFixed(2)),
        ratio_nosync: Number((med(nosync) / med(skopeo)).toFixed(2)),
      },
    };
  } finally {
    await reg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
