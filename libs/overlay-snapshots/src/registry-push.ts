import { createHash } from 'node:crypto';
import { formatReference, type ImageReference } from './image-reference.js';
import type { ImageSource } from './image-store.js';
import { MANIFEST_TYPES, type RegistryClient } from './registry-client.js';

const GZIP = [0x1f, 0x8b];
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Digest, size and compression of a layer blob, from one pass when the archive did not say. */
async function describe(open: () => AsyncIterable<Buffer>, digest?: string, size?: number) {
  const h = createHash('sha256');
  let n = 0;
  let head: Buffer | undefined;
  for await (const c of open()) {
    head ??= c;
    if (digest && size !== undefined) break;
    h.update(c);
    n += c.length;
  }
  const gzip = !!head && GZIP.every((b, i) => head[i] === b);
  return {
    digest: digest && size !== undefined ? digest : `sha256:${h.digest('hex')}`,
    size: digest && size !== undefined ? size : n,
    mediaType: `application/vnd.oci.image.layer.v1.tar${gzip ? '+gzip' : ''}`,
  };
}

/**
 * Push an image (an uploaded archive's ImageSource) to `ref` with the Distribution API's
 * monolithic upload: blobs the registry already has are skipped (HEAD), the registry checks
 * every digest as it stores, the manifest goes last (the registry's commit point). Returns
 * the manifest digest: pull `ref` pinned to it.
 */
export async function pushImage(
  client: RegistryClient,
  ref: ImageReference,
  src: ImageSource,
): Promise<string> {
  const endpoint = client.endpointOf(ref);
  const blob = async (digest: string, size: number, body: () => Buffer | AsyncIterable<Buffer>) => {
    const head = await client.call(endpoint, ref, `/blobs/${digest}`, { method: 'HEAD', expect: [200, 404] });
    head.resume();
    if (head.statusCode === 200) return;
    const start = await client.call(endpoint, ref, '/blobs/uploads/', { method: 'POST', expect: [202] });
    start.resume();
    const loc = new URL(String(start.headers.location ?? ''), `${endpoint}/`);
    loc.searchParams.set('digest', digest);
    const put = await client.call(endpoint, ref, loc.toString(), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
      expect: [201],
    });
    put.resume();
  };
  const layers = [];
  for (const l of src.layers) {
    const d = await describe(l.open, l.digest, l.size);
    await blob(d.digest, d.size, l.open);
    layers.push(d);
  }
  await blob(src.config.digest, src.config.bytes.length, () => src.config.bytes);
  const manifest =
    src.manifest?.bytes ??
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST_TYPES.ociManifest,
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: src.config.digest,
          size: src.config.bytes.length,
        },
        layers,
      }),
    );
  const mediaType =
    (JSON.parse(manifest.toString('utf8')) as { mediaType?: string }).mediaType ?? MANIFEST_TYPES.ociManifest;
  const tag = ref.tag ?? ref.digest ?? 'latest';
  const res = await client.call(endpoint, ref, `/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: () => manifest,
    expect: [201],
  });
  res.resume();
  const digest = sha256(manifest);
  const said = res.headers['docker-content-digest'];
  if (said && said !== digest)
    throw new Error(`push ${formatReference(ref)}: registry stored ${said}, pushed ${digest}`);
  return digest;
}
