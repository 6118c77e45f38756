import { lstat, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type AgentImage,
  type AgentPullRequest,
  type LayerProgress,
  type Mount,
  NotFoundError,
} from '@floe/contracts';
import {
  formatReference,
  ImagePuller,
  parseReference,
  RegistryClient,
  type RegistryConfig,
  type RegistryCredentials,
  SnapshotService,
} from '@floe/overlay-snapshots';
import { pullHooks } from './image-pull-metrics.js';
import type { ImageRunConfig, RootfsProvider } from './ports.js';

export interface RegistryAccess {
  config: RegistryConfig;
  /** A namespace's registry credentials by host (its `floe-registry-auth` secret). */
  credentials(namespace: string): Promise<Map<string, RegistryCredentials>>;
  log?: (line: string) => void;
}

/**
 * The launcher's view of libs/overlay-snapshots: container rootfs mounts over an image's
 * layers, and code layers imported once per archive digest and leased while known.
 */
export class SnapshotRootfs implements RootfsProvider {
  private readonly codeLayers = new Map<string, Promise<string>>();

  private readonly puller?: ImagePuller;
  private readonly pulling = new Set<string>();
  /** Recomputed after an import or pull, not on every heartbeat. */
  private summary: AgentImage[] = [];

  private constructor(
    readonly service: SnapshotService,
    private readonly registry?: RegistryAccess,
  ) {
    if (registry)
      this.puller = new ImagePuller(
        service.images,
        new RegistryClient(registry.config),
        pullHooks(registry.log ?? ((l) => console.log(l))),
      );
  }

  /**
   * Opens `<layerDir>/snapshots`, building the base images there if missing. With `registry`,
   * images not present are pulled before the first start that needs them.
   */
  static async open(layerDir: string, registry?: RegistryAccess): Promise<SnapshotRootfs> {
    const service = await SnapshotService.open(layerDir);
    await service.ensureBaseImages();
    // A crash leaves writable layers of containers that no longer exist.
    for (const id of await service.containers()) await service.release(id);
    const r = new SnapshotRootfs(service, registry);
    await r.refresh();
    return r;
  }

  async rootfs(containerId: string, imageRef: string, sizeLimitBytes: number): Promise<Mount[]> {
    const image = await this.service.resolveImage(imageRef);
    if (!image) throw new NotFoundError(`image ${imageRef}: not found on this agent`, { field: 'image' });
    return this.service.rootfsFor(containerId, image.layers, { sizeLimitBytes });
  }

  codeLayer(digest: string, fetch: () => Promise<Buffer>): Promise<string> {
    let p = this.codeLayers.get(digest);
    if (!p) {
      p = this.importCode(digest, fetch);
      this.codeLayers.set(digest, p);
      p.catch(() => this.codeLayers.delete(digest));
    }
    return p;
  }

  private async importCode(digest: string, fetch: () => Promise<Buffer>): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'floe-code-'));
    try {
      const file = path.join(dir, 'code.archive');
      // Async file I/O: this runs on a prewarm call's path while other calls are in flight.
      await writeFile(file, await fetch());
      // Not synced to disk: this runs on a prewarm call's path (a syncfs costs milliseconds),
      // and a code layer can always be imported again from Redis. kill -9 safety is kept by
      // the store's temp dir + rename.
      const layer = await this.service.importCode(file, { leaseId: `code/${digest}`, durable: false });
      return this.service.codeLayerPath(layer.diffID);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Present, else imported from an uploaded archive, else pulled with `namespace`'s credentials. */
  async ensureImage(ref: string, archivePath?: string, namespace?: string): Promise<void> {
    if (await this.service.resolveImage(ref)) return;
    if (archivePath) {
      await this.service.importImage(archivePath, ref);
      await this.refresh();
      return;
    }
    if (!this.puller || !this.registry)
      throw new NotFoundError(`image ${ref}: not on this agent and no registry configured`, {
        field: 'image',
      });
    await this.pullWith(this.puller, this.registry, ref, namespace);
  }

  /**
   * `floe images pull` on this agent: `req.pinned` into the layer store (or found there), with
   * `watch` seeing each layer's bytes, then tagged `req.image` so the tag lists too.
   */
  async pullImage(
    req: AgentPullRequest,
    watch: (p: LayerProgress) => void,
  ): Promise<{ digest: string; size: number; layers: number }> {
    if (!this.puller || !this.registry)
      throw new NotFoundError(`image ${req.image}: no registry configured on this agent`, { field: 'image' });
    const img = await this.pullWith(this.puller, this.registry, req.pinned, req.namespace, watch);
    const r = parseReference(req.image);
    if (r.tag && !r.digest) {
      await this.service.images.tag(formatReference(r), img.manifestDigest);
      await this.refresh();
    }
    const store = this.service.images;
    const size = img.layers.reduce((n, l) => n + (store.layers.info(l)?.size ?? 0), 0);
    return { digest: img.manifestDigest, size, layers: img.layers.length };
  }

  private async pullWith(
    puller: ImagePuller,
    registry: RegistryAccess,
    ref: string,
    namespace: string | undefined,
    watch?: (p: LayerProgress) => void,
  ) {
    const creds = namespace ? await registry.credentials(namespace) : new Map();
    const client = new RegistryClient({ ...registry.config, credentials: (h) => creds.get(h) });
    this.pulling.add(ref);
    try {
      return await puller.ensure(ref, client, watch);
    } finally {
      this.pulling.delete(ref);
      client.close();
      await this.refresh();
    }
  }

  images(): AgentImage[] {
    return [
      ...this.summary,
      ...[...this.pulling].map((ref) => ({ refs: [ref], digest: ref, size: 0, state: 'pulling' as const })),
    ];
  }

  private async refresh(): Promise<void> {
    const store = this.service.images;
    this.summary = (await store.list()).map((img) => ({
      refs: store.refsOf(img.manifestDigest),
      digest: img.manifestDigest,
      size: img.layers.reduce((n, l) => n + (store.layers.info(l)?.size ?? 0), 0),
      state: 'present',
    }));
  }

  async imageConfig(ref: string): Promise<ImageRunConfig | undefined> {
    const image = await this.service.resolveImage(ref);
    if (!image) return undefined;
    const c = image.config;
    return {
      entrypoint: c.Entrypoint,
      cmd: c.Cmd,
      env: c.Env,
      workingDir: c.WorkingDir,
      user: c.User,
      labels: c.Labels,
    };
  }

  async imageFile(ref: string, relPath: string): Promise<string | undefined> {
    const image = await this.service.resolveImage(ref);
    if (!image) return undefined;
    const parts = relPath.split('/').filter(Boolean);
    if (parts.some((x) => x === '..' || x === '.')) return undefined;
    // Layers are the agent's own, immutable files: no container can swap a link in here.
    for (const diffID of [...image.layers].reverse()) {
      const root = this.service.layers.path(diffID);
      for (let i = 1; i <= parts.length; i++) {
        const dir = path.join(root, ...parts.slice(0, i - 1));
        const name = parts[i - 1]!;
        if (await exists(path.join(dir, `.wh.${name}`))) return undefined;
        if (i < parts.length && (await exists(path.join(dir, '.wh..wh..opq')))) break;
      }
      const file = path.join(root, ...parts);
      const st = await lstat(file).catch(() => undefined);
      if (!st) continue;
      if (!st.isFile() || st.size > 1 << 20) return undefined;
      return readFile(file, 'utf8');
    }
    return undefined;
  }

  release(containerId: string): Promise<void> {
    return this.service.release(containerId);
  }
}

function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}
