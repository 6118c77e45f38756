import { ANNOTATION_IMAGE_ARCHIVE, type FunctionDeployment, InvalidArgumentError } from '@floe/contracts';
import type { ImageRefs } from './image-refs.js';

/**
 * Somewhere else an image may come from (a registry client, later): answers whether `ref` can
 * be got. The gateway asks each source in turn, only for refs it does not hold itself.
 */
export type ImageSource = (ref: string) => Promise<boolean>;

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
        `POST /floe/images?ref=${image} (body: a docker save or OCI archive tar); ` +
        'pulling from a registry is not supported yet',
    );
  }
}
