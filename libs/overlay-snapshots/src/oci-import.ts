import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { InvalidArgumentError } from '@floe/contracts';
import { DEFAULT_LIMITS, safeEntryPath } from './archive-guard.js';
import { FileSource } from './byte-source.js';
import type { ImageSource, LayerBlob } from './image-store.js';
import { TarReader } from './tar-reader.js';

interface Member {
  offset: number;
  size: number;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string };
}

const JSON_MAX = 16 << 20;
const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const bad = (msg: string) => new InvalidArgumentError('image', msg);

/**
 * One pass over the archive's headers (bodies are skipped by seeking, so a multi-GB image
 * costs a few reads), then JSON documents are read by offset and layers streamed from disk.
 */
async function indexArchive(fh: fsp.FileHandle, fileSize: number): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  const r = new TarReader(new FileSource(fh));
  for (let e = await r.next(); e; e = await r.next()) {
    if (members.size >= DEFAULT_LIMITS.maxEntries) throw bad('image archive has too many entries');
    if (e.type !== 'file') continue;
    if (e.dataOffset + e.size > fileSize) throw bad(`image archive is truncated at '${e.name}'`);
    members.set(safeEntryPath(e.name), { offset: e.dataOffset, size: e.size });
  }
  return members;
}

/** Parse an OCI image-layout tar or a `docker save` tar into an unverified ImageSource. */
export async function readImageArchive(tarPath: string, ref?: string): Promise<ImageSource> {
  const fh = await fsp.open(tarPath, 'r');
  try {
    const members = await indexArchive(fh, (await fh.stat()).size);
    const read = async (name: string): Promise<Buffer> => {
      const m = members.get(name);
      if (!m) throw bad(`archive has no '${name}'`);
      if (m.size > JSON_MAX) throw bad(`'${name}' is too large for a JSON document`);
      const buf = Buffer.alloc(m.size);
      await fh.read(buf, 0, m.size, m.offset);
      return buf;
    };
    const json = async <T>(name: string): Promise<T> => {
      try {
        return JSON.parse((await read(name)).toString('utf8')) as T;
      } catch (e) {
        if (e instanceof InvalidArgumentError) throw e;
        throw bad(`'${name}' is not valid JSON`);
      }
    };
    const blob = (name: string, digest?: string, size?: number): LayerBlob => {
      const m = members.get(name);
      if (!m) throw bad(`archive has no layer '${name}'`);
      return {
        digest,
        size,
        open: () =>
          m.size === 0
            ? (async function* () {})()
            : fs.createReadStream(tarPath, {
                start: m.offset,
                end: m.offset + m.size - 1,
                highWaterMark: 1 << 20,
              }),
      };
    };
    const blobPath = (digest: string) => `blobs/${digest.replace(':', '/')}`;
    const verified = async (d: Descriptor, what: string): Promise<Buffer> => {
      if (!/^sha256:[a-f0-9]{64}$/.test(d.digest ?? ''))
        throw bad(`${what}: unsupported digest '${d.digest}'`);
      const b = await read(blobPath(d.digest));
      const got = sha256(b);
      if (got !== d.digest) throw bad(`${what}: digest mismatch: expected ${d.digest}, content is ${got}`);
      if (d.size !== undefined && d.size !== b.length)
        throw bad(`${what}: size ${b.length}, descriptor says ${d.size}`);
      return b;
    };

    if (members.has('index.json')) {
      let desc = pickManifest((await json<{ manifests?: Descriptor[] }>('index.json')).manifests ?? [], ref);
      let bytes = await verified(desc.d, 'manifest');
      // Nested indexes (multi-platform): descend to this host's platform.
      for (let depth = 0; INDEX_TYPES.has(desc.d.mediaType ?? '') || isIndex(bytes); depth++) {
        if (depth > 4) throw bad('image index nesting too deep');
        desc = { d: pickPlatform(JSON.parse(bytes.toString('utf8')).manifests ?? []), ref: desc.ref };
        bytes = await verified(desc.d, 'manifest');
      }
      const manifest = JSON.parse(bytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
      if (!manifest.config || !Array.isArray(manifest.layers)) throw bad('manifest has no config or layers');
      const config = await verified(manifest.config, 'config');
      return {
        manifest: { bytes, digest: desc.d.digest },
        config: { bytes: config, digest: manifest.config.digest },
        layers: manifest.layers.map((l) => blob(blobPath(l.digest), l.digest, l.size)),
        ref: desc.ref,
      };
    }

    if (members.has('manifest.json')) {
      const list =
        await json<{ Config: string; RepoTags?: string[] | null; Layers: string[] }[]>('manifest.json');
      const want = ref && normalizeTag(ref);
      const m = (want && list.find((x) => x.RepoTags?.map(normalizeTag).includes(want))) || list[0];
      if (!m?.Config || !Array.isArray(m.Layers)) throw bad('docker manifest.json lists no image');
      const configBytes = await read(safeEntryPath(m.Config));
      // docker names the config (and, since 25.0, layers) by their sha256.
      const hex = /([a-f0-9]{64})(\.json)?$/.exec(m.Config)?.[1];
      const configDigest = hex ? `sha256:${hex}` : sha256(configBytes);
      return {
        config: { bytes: configBytes, digest: configDigest },
        layers: m.Layers.map((p) => {
          const lhex = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(safeEntryPath(p))?.[1];
          return blob(safeEntryPath(p), lhex ? `sha256:${lhex}` : undefined);
        }),
        ref: m.RepoTags?.[0] ?? undefined,
      };
    }
    throw bad(
      `${tarPath} is neither an OCI image layout (index.json) nor a docker save archive (manifest.json)`,
    );
  } finally {
    await fh.close();
  }
}

function normalizeTag(r: string): string {
  const last = r.slice(r.lastIndexOf('/') + 1);
  return last.includes(':') ? r : `${r}:latest`;
}

function isIndex(bytes: Buffer): boolean {
  try {
    const j = JSON.parse(bytes.toString('utf8'));
    return Array.isArray(j.manifests) && !j.layers;
  } catch {
    return false;
  }
}

function refOf(d: Descriptor): string | undefined {
  return d.annotations?.['io.containerd.image.name'] ?? d.annotations?.['org.opencontainers.image.ref.name'];
}

function pickManifest(list: Descriptor[], ref?: string): { d: Descriptor; ref?: string } {
  if (list.length === 0) throw bad('index.json lists no manifests');
  if (ref) {
    const want = normalizeTag(ref);
    const tag = want.slice(want.lastIndexOf(':') + 1);
    const hit = list.find((d) => {
      const r = refOf(d);
      return r !== undefined && (normalizeTag(r) === want || r === tag);
    });
    if (hit) return { d: hit, ref };
  }
  if (list.length > 1 && ref) throw bad(`index.json has ${list.length} manifests and none is named '${ref}'`);
  const d = list[0]!;
  const name = d.annotations?.['io.containerd.image.name'];
  return { d, ref: ref ?? name };
}

function pickPlatform(list: Descriptor[]): Descriptor {
  const arch = ARCH[process.arch] ?? process.arch;
  const hit = list.find((d) => d.platform?.os === 'linux' && d.platform.architecture === arch);
  if (!hit) throw bad(`image index has no linux/${arch} manifest`);
  return hit;
}
