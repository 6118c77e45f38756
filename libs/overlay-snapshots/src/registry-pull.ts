import { InvalidArgumentError, type LayerProgress } from '@floe/contracts';
import { formatReference, type ImageReference, parseReference, pinReference } from './image-reference.js';
import type { Image, ImageStore } from './image-store.js';
import { type Descriptor, RegistryClient, type ResolvedImage } from './registry-client.js';

export interface PullHooks {
  /** One line per layer started and finished, with its bytes. */
  log?: (line: string) => void;
  /** Every pull's outcome: `floe_image_pull_seconds{result}`. */
  observe?: (result: 'ok' | 'error', seconds: number) => void;
  /** Layer bytes as they arrive: `floe_image_pull_bytes_total`. */
  bytes?: (n: number) => void;
}

/**
 * Pulls images from registries into an ImageStore. Each layer streams from the registry
 * straight into the layer store's safe unpacker, and is published only once its blob
 * digest, size and diffID all match; the image (its refs) is published only once every
 * layer is there. A pull cut anywhere leaves staging garbage (swept on open) and verified
 * layers a retry reuses, never a partial layer or a ref to a missing one.
 * A layer two pulls need at once is downloaded once.
 */
export class ImagePuller {
  private readonly layerFlights = new Map<string, Promise<void>>();
  private readonly pullFlights = new Map<string, { p: Promise<Image>; watchers: Set<LayerWatcher> }>();

  constructor(
    readonly images: ImageStore,
    readonly client: RegistryClient = new RegistryClient(),
    private readonly hooks: PullHooks = {},
  ) {}

  /** Resolve a reference to its manifest (nothing downloaded beyond manifest and config). */
  resolve(ref: string | ImageReference): Promise<ResolvedImage> {
    return this.client.resolve(typeof ref === 'string' ? parseReference(ref) : ref);
  }

  /**
   * The stored image for `ref`, pulling it first if absent. A pinned ref present locally costs
   * no request (and reports no layer: the caller knows it was there).
   */
  async ensure(ref: string, client = this.client, watch?: LayerWatcher): Promise<Image> {
    const r = parseReference(ref);
    if (r.digest) {
      const have = await this.images.resolve(formatReference(pinReference(r, r.digest)));
      if (have) return have;
    }
    return this.pull(ref, client, watch);
  }

  /**
   * Pull `ref`; stored under its canonical ref and its digest-pinned ref. `client` carries
   * the caller's credentials; concurrent pulls of one ref share the first caller's pull, and
   * `watch` sees its layers' progress from the moment it joins.
   */
  pull(ref: string, client = this.client, watch?: LayerWatcher): Promise<Image> {
    const key = formatReference(parseReference(ref));
    let f = this.pullFlights.get(key);
    if (!f) {
      const watchers = new Set<LayerWatcher>();
      const emit: LayerWatcher = (p) => {
        for (const w of watchers) w(p);
      };
      f = { p: this.pullOnce(key, client, emit).finally(() => this.pullFlights.delete(key)), watchers };
      this.pullFlights.set(key, f);
    }
    if (watch) {
      const { watchers } = f;
      watchers.add(watch);
      void f.p.finally(() => watchers.delete(watch)).catch(() => {});
    }
    return f.p;
  }

  private async pullOnce(name: string, client: RegistryClient, emit: LayerWatcher): Promise<Image> {
    const t0 = process.hrtime.bigint();
    const secs = () => Number(process.hrtime.bigint() - t0) / 1e9;
    try {
      const img = await client.resolve(parseReference(name));
      const diffIDs = diffIDsOf(img);
      if (diffIDs.length !== img.layers.length)
        throw new InvalidArgumentError(
          'image',
          `${name}: config lists ${diffIDs.length} diff_ids but the manifest has ${img.layers.length} layers`,
        );
      // Settle all before answering: a failed pull returns only once no layer is mid-staging.
      const done = await Promise.allSettled(
        img.layers.map((d, i) => this.layer(client, img, d, diffIDs[i]!, i, emit)),
      );
      const failed = done.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const refs = [formatReference(pinReference(img.ref, img.digest))];
      if (img.ref.tag) refs.push(formatReference({ ...img.ref, digest: undefined }));
      const stored = await this.images.importPulled({ manifest: img.manifest, config: img.config, refs });
      this.hooks.observe?.('ok', secs());
      this.hooks.log?.(`pulled ${name} (${img.digest}) in ${secs().toFixed(2)} s`);
      return stored;
    } catch (e) {
      this.hooks.observe?.('error', secs());
      throw e;
    }
  }

  private layer(
    client: RegistryClient,
    img: ResolvedImage,
    d: Descriptor,
    diffID: string,
    i: number,
    emit: LayerWatcher,
  ) {
    if (this.images.layers.has(diffID)) {
      emit({ digest: d.digest, size: d.size, bytes: d.size, cached: true });
      return Promise.resolve();
    }
    let p = this.layerFlights.get(diffID);
    if (!p) {
      p = this.download(client, img, d, diffID, i, emit).finally(() => this.layerFlights.delete(diffID));
      this.layerFlights.set(diffID, p);
    } else {
      // Another pull is downloading it: this one sees it only when it lands.
      p = p.then(() => emit({ digest: d.digest, size: d.size, bytes: d.size }));
    }
    return p;
  }

  private async download(
    client: RegistryClient,
    img: ResolvedImage,
    d: Descriptor,
    diffID: string,
    i: number,
    emit: LayerWatcher,
  ): Promise<void> {
    const name = formatReference(img.ref);
    const what = `${name} layer ${i} (${d.digest})`;
    const t0 = Date.now();
    let got = 0;
    this.hooks.log?.(`pulling ${what}: ${d.size} bytes`);
    emit({ digest: d.digest, size: d.size, bytes: 0 });
    const staged = await this.images.layers.stage(
      client.blob(img, d, (n) => {
        got += n;
        this.hooks.bytes?.(n);
        // The last chunk's event waits for the digest checks below: full means verified.
        if (got < d.size) emit({ digest: d.digest, size: d.size, bytes: got });
      }),
    );
    try {
      if (staged.blobDigest !== d.digest)
        throw new InvalidArgumentError('image', `${what}: digest mismatch: content is ${staged.blobDigest}`);
      if (staged.diffID !== diffID)
        throw new InvalidArgumentError(
          'image',
          `${what}: diffID mismatch: config says ${diffID}, content is ${staged.diffID}`,
        );
      await this.images.layers.publishStaged(staged);
    } catch (e) {
      this.images.layers.discard(staged);
      throw e;
    }
    emit({ digest: d.digest, size: d.size, bytes: got });
    this.hooks.log?.(`pulled ${what}: ${got} bytes in ${Date.now() - t0} ms`);
  }
}

/** Sees a pull's layers: each one's bytes so far (full once verified and stored). */
export type LayerWatcher = (p: LayerProgress) => void;

function diffIDsOf(img: ResolvedImage): string[] {
  try {
    const ids = (JSON.parse(img.config.bytes.toString('utf8')) as { rootfs?: { diff_ids?: string[] } }).rootfs
      ?.diff_ids;
    if (Array.isArray(ids) && ids.every((x) => /^sha256:[a-f0-9]{64}$/.test(x))) return ids;
  } catch {}
  throw new InvalidArgumentError(
    'image',
    `${formatReference(img.ref)}: config.rootfs.diff_ids is missing or malformed`,
  );
}
