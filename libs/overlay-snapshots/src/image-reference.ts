import { InvalidArgumentError } from '@floe/contracts';

/** A reference split as Docker splits it: `host:5000/a/b:tag@sha256:...`. */
export interface ImageReference {
  /** `docker.io` for Docker Hub (its API host is `registry-1.docker.io`). */
  registry: string;
  /** `library/busybox`, `a/b`. */
  repository: string;
  /** Absent only when the reference pins a digest and names no tag. */
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;

const bad = (ref: string, why: string) =>
  new InvalidArgumentError('image', `'${ref}' is not an image reference: ${why}`);

/**
 * Parse as the Docker CLI does: the first component is a registry only when it has a `.` or
 * a `:` or is `localhost`; otherwise the image is on Docker Hub, where a one-component name
 * lives under `library/`. No tag and no digest means `:latest`.
 */
export function parseReference(ref: string): ImageReference {
  if (!ref || ref.length > 4096 || /\s/.test(ref)) throw bad(ref, 'empty or contains whitespace');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(ref, `digest '${digest}' is not sha256:<64 hex>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(ref, `tag '${tag}' is not valid`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!HOST.test(first)) throw bad(ref, `registry '${first}' is not a host[:port]`);
    registry = first === 'index.docker.io' ? DOCKER_HUB : first;
    parts.shift();
  }
  if (parts.length === 0 || !parts.every((p) => COMPONENT.test(p)))
    throw bad(ref, 'repository must be lower-case components separated by /');
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) throw bad(ref, 'repository name is longer than 255 characters');
  return { registry, repository, tag: tag ?? (digest ? undefined : 'latest'), digest };
}

/** The canonical form: `docker.io/library/busybox:latest`, `host:5000/a/b@sha256:...`. */
export function formatReference(r: ImageReference): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The same repository pinned to `digest` (tag dropped: the digest is what runs). */
export function pinReference(r: ImageReference, digest: string): ImageReference {
  return { registry: r.registry, repository: r.repository, digest };
}
