import { createHash } from 'node:crypto';
import { InvalidArgumentError, NotFoundError } from '@floe/contracts';
import { readJson, writeFileAtomic } from './atomic-file.js';
import {
  type LayerStore,
  type LayerStoreOptions,
  type StagedLayer,
  LayerStore as Store,
} from './layer-store.js';
import { digestLayer } from './layer-unpack.js';
import { Mutex } from './mutex.js';
import { readImageArchive } from './oci-import.js';

/** The parts of an OCI image config (`config` object) callers run a container from. */
export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object>;
  Labels?: Record<string, string>;
}

export interface Image {
  /** The ref it was looked up or imported by (`name:tag`), if any. */
  ref?: string;
  manifestDigest: string;
  configDigest: string;
  /** Layer diffIDs, base first: pass to `OverlaySnapshotter.ensureChain`. */
  layers: string[];
  config: ImageConfig;
}

/** A layer blob to import: reopenable, with the digests the image claims for it. */
export interface LayerBlob {
  open(): AsyncIterable<Buffer>;
  /** Claimed sha256 of the blob as stored (compressed); checked when given. */
  digest?: string;
  size?: number;
}

/** An image before verification, from an archive or built locally. */
export interface ImageSource {
  /** The manifest as found (OCI). Absent for docker-save and local builds: one is synthesized. */
  manifest?: { bytes: Buffer; digest: string };
  config: { bytes: Buffer; digest: string };
  layers: LayerBlob[];
  ref?: string;
}

interface RefIndex {
  refs: Record<string, string>;
  /** Every imported manifest, tagged or not (GC roots). */
  images: string[];
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** `busybox` → `busybox:latest`, `docker.io/library/x` → `x`; digests unchanged. */
export function normalizeRef(ref: string): string {
  if (!ref || /\s/.test(ref)) throw new InvalidArgumentError('ref', `'${ref}' is not an image reference`);
  ref = ref.replace(/^docker\.io\/(library\/)?/, '');
  if (ref.includes('@')) return ref;
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  return last.includes(':') ? ref : `${ref}:latest`;
}

function mismatch(what: string, want: string, got: string): InvalidArgumentError {
  return new InvalidArgumentError('image', `${what}: digest mismatch: expected ${want}, content is ${got}`);
}

/**
 * Images over a LayerStore: imports verify every digest before anything is stored, then
 * publish layers, then manifest/config blobs, then the ref (`images.json`, atomic). The ref
 * is the commit point: a crash before it leaves only unreferenced content for GC.
 */
export class ImageStore {
  private readonly lock = new Mutex();

  private constructor(
    readonly layers: LayerStore,
    private readonly indexFile: string,
  ) {}

  static async open(
    root: string,
    opts: LayerStoreOptions & { layers?: LayerStore } = {},
  ): Promise<ImageStore> {
    const layers = opts.layers ?? (await Store.open(root, opts));
    return new ImageStore(layers, `${layers.root}/images.json`);
  }

  private index(): RefIndex {
    return readJson<RefIndex>(this.indexFile) ?? { refs: {}, images: [] };
  }

  private saveIndex(i: RefIndex): void {
    writeFileAtomic(this.indexFile, JSON.stringify(i, null, 1));
  }

  /** Import an OCI image-layout tar or a `docker save` tar (gzip or plain layers). */
  async importArchive(tarPath: string, ref?: string): Promise<Image> {
    const src = await readImageArchive(tarPath, ref);
    return this.importSource({ ...src, ref: ref ?? src.ref });
  }

  /** The one import path: archives and locally built base images both come through here. */
  async importSource(src: ImageSource): Promise<Image> {
    return this.lock.run(() => this.importLocked(src));
  }

  /**
   * Publish an image whose layers a pull already put in the layer store: checks the config
   * digest and that every diffID is present, then writes manifest, config and `refs` (the
   * commit point). Throws, storing nothing, if a layer is missing.
   */
  async importPulled(src: {
    manifest: { bytes: Buffer; digest: string };
    config: { bytes: Buffer; digest: string };
    refs: string[];
  }): Promise<Image> {
    return this.lock.run(async () => {
      const gotConfig = sha256(src.config.bytes);
      if (gotConfig !== src.config.digest) throw mismatch('config', src.config.digest, gotConfig);
      const gotManifest = sha256(src.manifest.bytes);
      if (gotManifest !== src.manifest.digest) throw mismatch('manifest', src.manifest.digest, gotManifest);
      const config = parseConfig(src.config.bytes);
      const missing = config.rootfs.diff_ids.find((d) => !this.layers.has(d));
      if (missing)
        throw new NotFoundError(`image ${src.refs[0]}: layer ${missing} is not in the layer store`);
      this.layers.putBlob(gotConfig, src.config.bytes);
      this.layers.putBlob(gotManifest, src.manifest.bytes);
      const idx = this.index();
      if (!idx.images.includes(gotManifest)) idx.images.push(gotManifest);
      for (const r of src.refs) idx.refs[normalizeRef(r)] = gotManifest;
      this.saveIndex(idx);
      return {
        ref: src.refs[0] ? normalizeRef(src.refs[0]) : undefined,
        manifestDigest: gotManifest,
        configDigest: gotConfig,
        layers: config.rootfs.diff_ids,
        config: config.config,
      };
    });
  }

  /** Every ref that points at `manifestDigest`. */
  refsOf(manifestDigest: string): string[] {
    return Object.entries(this.index().refs)
      .filter(([, d]) => d === manifestDigest)
      .map(([r]) => r);
  }

  /** Run `fn` with imports held off (GC uses this). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }

  private async importLocked(src: ImageSource): Promise<Image> {
    const ref = src.ref ? normalizeRef(src.ref) : undefined;
    const gotConfig = sha256(src.config.bytes);
    if (gotConfig !== src.config.digest) throw mismatch('config', src.config.digest, gotConfig);
    const config = parseConfig(src.config.bytes);
    const diffIDs = config.rootfs.diff_ids;
    if (diffIDs.length !== src.layers.length) {
      throw new InvalidArgumentError(
        'image',
        `config lists ${diffIDs.length} diff_ids but the manifest has ${src.layers.length} layers`,
      );
    }
    const staged = new Map<string, StagedLayer>();
    const descs: { mediaType: string; digest: string; size: number }[] = [];
    try {
      for (const [i, blob] of src.layers.entries()) {
        const want = diffIDs[i]!;
        const what = `layer ${i} (${want})`;
        // Layers already stored are only hashed: still every digest is checked.
        const r =
          this.layers.has(want) || staged.has(want)
            ? await digestLayer(blob.open())
            : await this.layers.stage(blob.open());
        if ('dir' in r) staged.set(r.diffID, r as StagedLayer);
        if (blob.digest && r.blobDigest !== blob.digest)
          throw mismatch(`${what} blob`, blob.digest, r.blobDigest);
        if (blob.size !== undefined && r.blobSize !== blob.size) {
          throw new InvalidArgumentError(
            'image',
            `${what}: blob is ${r.blobSize} bytes, manifest says ${blob.size}`,
          );
        }
        if (r.diffID !== want) throw mismatch(`${what} diffID`, want, r.diffID);
        descs.push({
          mediaType:
            r.blobDigest === r.diffID
              ? 'application/vnd.oci.image.layer.v1.tar'
              : 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: r.blobDigest,
          size: r.blobSize,
        });
      }
    } catch (e) {
      for (const s of staged.values()) this.layers.discard(s);
      throw e;
    }
    for (const s of staged.values()) this.layers.commitStaged(s);
    const manifest =
      src.manifest ??
      (() => {
        const bytes = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: {
              mediaType: 'application/vnd.oci.image.config.v1+json',
              digest: gotConfig,
              size: src.config.bytes.length,
            },
            layers: descs,
          }),
        );
        return { bytes, digest: sha256(bytes) };
      })();
    this.layers.putBlob(gotConfig, src.config.bytes);
    this.layers.putBlob(manifest.digest, manifest.bytes);
    const idx = this.index();
    if (!idx.images.includes(manifest.digest)) idx.images.push(manifest.digest);
    if (ref) idx.refs[ref] = manifest.digest;
    this.saveIndex(idx);
    return {
      ref,
      manifestDigest: manifest.digest,
      configDigest: gotConfig,
      layers: diffIDs,
      config: config.config,
    };
  }

  /** Look up by `name:tag` (or `name`, meaning `:latest`) or by manifest digest. */
  async resolve(ref: string): Promise<Image | undefined> {
    const idx = this.index();
    const digest = ref.startsWith('sha256:') ? ref : idx.refs[normalizeRef(ref)];
    if (!digest || !idx.images.includes(digest)) return undefined;
    return this.load(digest, ref.startsWith('sha256:') ? undefined : normalizeRef(ref));
  }

  async has(ref: string): Promise<boolean> {
    return this.index().refs[normalizeRef(ref)] !== undefined;
  }

  async list(): Promise<Image[]> {
    const idx = this.index();
    const byDigest = new Map<string, string>();
    for (const [r, d] of Object.entries(idx.refs)) byDigest.set(d, r);
    return idx.images.map((d) => this.load(d, byDigest.get(d)));
  }

  config(image: Image): ImageConfig {
    return image.config;
  }

  /** Point `ref` at an imported image. */
  async tag(ref: string, manifestDigest: string): Promise<void> {
    const idx = this.index();
    if (!idx.images.includes(manifestDigest))
      throw new NotFoundError(`tag ${ref}: image ${manifestDigest} not found`);
    idx.refs[normalizeRef(ref)] = manifestDigest;
    this.saveIndex(idx);
  }

  /** Drop a ref; the image is forgotten when no ref points at it (its content goes at the next GC). */
  async untag(ref: string): Promise<void> {
    const idx = this.index();
    const d = idx.refs[normalizeRef(ref)];
    if (!d) throw new NotFoundError(`untag ${ref}: not found`);
    delete idx.refs[normalizeRef(ref)];
    if (!Object.values(idx.refs).includes(d)) idx.images = idx.images.filter((x) => x !== d);
    this.saveIndex(idx);
  }

  /** Forget an image and every ref to it; its content goes at the next GC. */
  async remove(manifestDigest: string): Promise<void> {
    const idx = this.index();
    if (!idx.images.includes(manifestDigest))
      throw new NotFoundError(`remove image ${manifestDigest}: not found`);
    idx.images = idx.images.filter((d) => d !== manifestDigest);
    for (const [r, d] of Object.entries(idx.refs)) if (d === manifestDigest) delete idx.refs[r];
    this.saveIndex(idx);
  }

  /** Manifests GC must keep, and the layers and blobs they reach. */
  roots(): { blobs: Set<string>; layers: Set<string> } {
    const blobs = new Set<string>();
    const layers = new Set<string>();
    for (const d of this.index().images) {
      const img = this.load(d);
      blobs.add(d);
      blobs.add(img.configDigest);
      for (const l of img.layers) layers.add(l);
    }
    return { blobs, layers };
  }

  /** The image a stored manifest describes, or undefined if `digest` is not a stored manifest. */
  tryManifest(digest: string): Image | undefined {
    try {
      return this.load(digest);
    } catch {
      return undefined;
    }
  }

  private load(manifestDigest: string, ref?: string): Image {
    const m = JSON.parse(this.layers.getBlob(manifestDigest).toString('utf8')) as {
      config: { digest: string };
    };
    const c = parseConfig(this.layers.getBlob(m.config.digest));
    return {
      ref,
      manifestDigest,
      configDigest: m.config.digest,
      layers: c.rootfs.diff_ids,
      config: c.config,
    };
  }
}

function parseConfig(bytes: Buffer): { config: ImageConfig; rootfs: { diff_ids: string[] } } {
  let c: { config?: ImageConfig; rootfs?: { type?: string; diff_ids?: unknown } };
  try {
    c = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new InvalidArgumentError('image', `config is not JSON: ${(e as Error).message}`);
  }
  const ids = c.rootfs?.diff_ids;
  if (
    c.rootfs?.type !== 'layers' ||
    !Array.isArray(ids) ||
    !ids.every((d) => /^sha256:[a-f0-9]{64}$/.test(d))
  ) {
    throw new InvalidArgumentError(
      'image',
      'config.rootfs must be {type: "layers", diff_ids: [sha256 digests]}',
    );
  }
  return { config: c.config ?? {}, rootfs: { diff_ids: ids as string[] } };
}
