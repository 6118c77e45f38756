import { FloeError } from '@floe/contracts';
import {
  formatReference,
  namespaceCredentials,
  parseReference,
  pinReference,
  RegistryClient,
  type RegistryConfig,
} from '@floe/overlay-snapshots';
import type { SecretStore } from './secret-store.js';

/** What deploy learns about a registry image. */
export interface ResolvedRef {
  /** `registry/repo@sha256:...`: what agents pull and run. */
  pinned: string;
  digest: string;
}

/** What `floe images pull` learns before any agent pulls: the layers and their total (compressed) size. */
export interface DescribedRef extends ResolvedRef {
  layers: { digest: string; size: number }[];
  size: number;
}

/**
 * Resolves a deployment's image against its registry at deploy: the manifest must exist and
 * the namespace's credentials (secret `floe-registry-auth`) must be accepted, otherwise the
 * deploy fails with the registry's reason, naming `image`. Nothing is downloaded but the
 * manifest and config. A registry that cannot be reached at all does not block a deploy:
 * the agent resolves the tag when it pulls (and fails that start, naming the image, if it
 * still cannot).
 */
export class ImageResolver {
  constructor(
    private readonly secrets: SecretStore,
    private readonly config: RegistryConfig,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  async resolveImage(ref: string, namespace: string): Promise<ResolvedRef | undefined> {
    try {
      const { pinned, digest } = await this.describe(ref, namespace);
      return { pinned, digest };
    } catch (e) {
      if ((e as FloeError).code !== 'UNAVAILABLE') throw e;
      this.log(
        `image ${ref}: registry unreachable at deploy, agents resolve it when they pull (${(e as Error).message})`,
      );
      return undefined;
    }
  }

  /**
   * The manifest's layers for `floe images pull`, where an unreachable registry is an answer
   * too: UNAVAILABLE with `details.httpStatus` 502 (the gateway's bad-gateway), naming `image`.
   */
  async describe(ref: string, namespace: string): Promise<DescribedRef> {
    const r = parseReference(ref);
    const creds = await namespaceCredentials((names) => this.secrets.values(namespace, names));
    const client = new RegistryClient({ ...this.config, credentials: (host) => creds.get(host) });
    try {
      const img = await client.resolve(r);
      const layers = img.layers.map((l) => ({ digest: l.digest, size: l.size }));
      return {
        pinned: formatReference(pinReference(r, img.digest)),
        digest: img.digest,
        layers,
        size: layers.reduce((n, l) => n + l.size, 0),
      };
    } catch (e) {
      if (!(e instanceof FloeError) || e.code !== 'UNAVAILABLE') throw e;
      const message = e.message.startsWith('image ') ? e.message : `image ${ref}: ${e.message}`;
      throw new FloeError('UNAVAILABLE', message, {
        cause: e,
        details: { ...e.details, field: 'image', httpStatus: 502 },
      });
    } finally {
      client.close();
    }
  }
}
