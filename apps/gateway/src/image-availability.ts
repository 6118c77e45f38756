import { ANNOTATION_IMAGE_ARCHIVE, type FunctionDeployment, InvalidArgumentError } from '@floe/contracts';
import { parseReference, type RegistryConfig } from '@floe/overlay-snapshots';
import type { ImageRefs } from './image-refs.js';

/**
 * Somewhere else an image may come from (a registry client, later): answers whether `ref` can
 * be got. The gateway asks each source in turn, only for refs it does not hold itself.
 */
export type ImageSource = (ref: string) => Promise<boolean>;

/**
 * A registry Floe can be asked for the image: one the reference names (`host:5000/repo:tag`),
 * or Docker Hub when a mirror serves it (`FLOE_REGISTRY_MIRRORS`). The scheduler then resolves
 * the manifest with the namespace's credentials, and a missing tag or refused credentials fail
 * the deploy there, naming `image`. Plain Docker Hub names without a mirror are refused here:
 * this platform reaches no public registry, so such a deploy could only fail on its first call.
 */
export function registrySource(config: Pick<RegistryConfig, 'mirrors'>): ImageSource {
  return async (ref) => {
    try {
      const r = parseReference(ref);
      return r.registry !== 'docker.io' || (config.mirrors['docker.io']?.length ?? 0) > 0;
    } catch {
      return false;
    }
  };
}

/** The agents' built-in base images (libs/overlay-snapshots/src/base-images.ts). */
const BASE_IMAGES = new Set(['floe/busybox:latest', 'floe/node:latest', 'floe/python:latest']);

/**
 * The one place that decides whether a deployment's image exists for Floe, so that a deploy
 * naming an image nobody can provide fails at once with 400 (field `image`) and stores nothing,
 * instead of being accepted and failing on its first call.
 */
export class ImageAvailability {
  constructor(
    private readonly refs: ImageRefs,
    private readonly sources: readonly ImageSource[] = [],
  ) {}

  async require(dep: FunctionDeployment): Promise<void> {
    const image = dep.image;
    if (!image) return;
    if (BASE_IMAGES.has(image) || this.refs.archiveOf(image) || dep.annotations?.[ANNOTATION_IMAGE_ARCHIVE])
      return;
    for (const canGet of this.sources) if (await canGet(image)) return;
    throw new InvalidArgumentError(
      'image',
      `image ${image} not found on this platform: upload it first with ` +
        `POST /floe/images?ref=${image} (body: a docker save or OCI archive tar), ` +
        'name it by its registry (host[:port]/repo:tag), or serve docker.io through FLOE_REGISTRY_MIRRORS',
    );
  }
}
