import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ImageConfig } from '../image-store.js';
import { tarBuffer } from './tar-fixture.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface FixtureImage {
  layers: Buffer[]; // uncompressed layer tars, base first
  config?: ImageConfig;
  gzip?: boolean;
  /** Corrupt the config's diff_ids entry for this layer index. */
  wrongDiffID?: number;
  /** Wrap the manifest in a multi-platform image index (with an arm64 decoy). */
  platformIndex?: boolean;
}

/** Test support: an OCI image-layout directory, blobs and all. Returns the manifest digest. */
export function writeOciLayout(dir: string, img: FixtureImage, refName = 'latest'): string {
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer) => {
    const h = sha(b);
    fs.writeFileSync(path.join(dir, 'blobs/sha256', h), b);
    return { digest: `sha256:${h}`, size: b.length };
  };
  const diffIDs = img.layers.map(
    (l, i) => `sha256:${i === img.wrongDiffID ? sha(Buffer.from('nope')) : sha(l)}`,
  );
  const config = put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: img.config ?? {},
        rootfs: { type: 'layers', diff_ids: diffIDs },
      }),
    ),
  );
  const layers = img.layers.map((l) => ({
    mediaType: `application/vnd.oci.image.layer.v1.tar${img.gzip ? '+gzip' : ''}`,
    ...put(img.gzip ? gzipSync(l) : l),
  }));
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers,
      }),
    ),
  );
  let top = { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest };
  if (img.platformIndex) {
    const decoy = `sha256:${sha(Buffer.from('not stored'))}`;
    const index = put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            { ...top, digest: decoy, platform: { os: 'linux', architecture: 'arm64' } },
            { ...top, platform: { os: 'linux', architecture: 'amd64' } },
          ],
        }),
      ),
    );
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', ...index };
  }
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': refName } }],
    }),
  );
  return manifest.digest;
}

/** skopeo (no network, no policy file needed) converting between transports. */
export function skopeoCopy(from: string, to: string): void {
  execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', from, to], { stdio: 'pipe' });
}

/** A hand-built legacy `docker save` tar: `<id>/layer.tar`, `<sha>.json`, `manifest.json`. */
export async function dockerSaveTar(layers: Buffer[], config: ImageConfig, repoTag: string): Promise<Buffer> {
  const cfg = Buffer.from(
    JSON.stringify({ config, rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha(l)}`) } }),
  );
  const ids = layers.map((l) => sha(Buffer.concat([l, Buffer.from('id')])));
  return tarBuffer([
    ...layers.flatMap((l, i) => [
      { name: `${ids[i]}`, type: 'dir' as const },
      { name: `${ids[i]}/VERSION`, type: 'file' as const, body: Buffer.from('1.0') },
      { name: `${ids[i]}/layer.tar`, type: 'file' as const, body: l },
    ]),
    { name: `${sha(cfg)}.json`, type: 'file', body: cfg },
    {
      name: 'manifest.json',
      type: 'file',
      body: Buffer.from(
        JSON.stringify([
          { Config: `${sha(cfg)}.json`, RepoTags: [repoTag], Layers: ids.map((id) => `${id}/layer.tar`) },
        ]),
      ),
    },
  ]);
}
