import { InvalidArgumentError } from './errors.js';
import { FUNCTION_NAME_RE } from './function.js';

/**
 * `floe images pull`: the gateway asks the scheduler (`image.pull`), which resolves the ref
 * once and has agents pull the pinned digest (`agent.pull`). Both calls answer a stream of
 * events, the last one `done`; the gateway forwards the scheduler's as NDJSON.
 */

/** image.pull. `agents` limits the pull to those agent ids; absent, every live agent. */
export interface ImagePullRequest {
  image: string;
  namespace: string;
  agents?: string[];
}

/** agent.pull: pull `pinned` (`repo@sha256:...`) with the namespace's credentials; tag it `image` too. */
export interface AgentPullRequest {
  image: string;
  pinned: string;
  namespace: string;
}

/** A layer's progress on one agent: `bytes` of `size` so far; `cached` when it was already there. */
export interface LayerProgress {
  digest: string;
  size: number;
  bytes: number;
  cached?: boolean;
}

/** What agent.pull streams: layer progress, then `done`. */
export type AgentPullEvent =
  | ({ type: 'layer' } & LayerProgress)
  | { type: 'done'; digest: string; size: number; layers: number };

/** One agent's outcome, in the final event. */
export interface AgentPullResult {
  agent: string;
  ok: boolean;
  seconds: number;
  error?: { code: string; message: string };
}

/**
 * What image.pull streams (and POST /floe/images/pull sends, one per line): `resolved` first,
 * `layer` progress per agent (`done`/`total`: that agent's bytes so far, of the image's
 * compressed size), `agent` when one finishes, and `done` last.
 */
export type ImagePullEvent =
  | {
      type: 'resolved';
      image: string;
      pinned: string;
      digest: string;
      size: number;
      layers: { digest: string; size: number }[];
      agents: string[];
    }
  | ({ type: 'layer'; agent: string; done: number; total: number } & LayerProgress)
  | ({ type: 'agent' } & AgentPullResult)
  | {
      type: 'done';
      image: string;
      pinned: string;
      digest: string;
      size: number;
      layers: number;
      agents: AgentPullResult[];
    };

/**
 * The body of POST /floe/images/pull (`{"image", "namespace"?, "agents"?}`) checked field by
 * field; `namespace` falls back to the query's, then to `defaultNamespace`. The reference
 * itself is parsed by the scheduler, which names `image` when it is not one.
 */
export function parseImagePullBody(
  body: unknown,
  queryNamespace: string | undefined,
  defaultNamespace: string,
): ImagePullRequest {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  if (typeof b.image !== 'string' || b.image.trim() === '')
    throw new InvalidArgumentError('image', 'required: an image reference, e.g. registry:5000/team/app:1');
  const ns = b.namespace ?? queryNamespace;
  if (ns !== undefined && ns !== null && ns !== '' && (typeof ns !== 'string' || !FUNCTION_NAME_RE.test(ns)))
    throw new InvalidArgumentError('namespace', 'not a DNS-1123 label');
  const req: ImagePullRequest = { image: b.image, namespace: (ns as string | undefined) || defaultNamespace };
  if (b.agents !== undefined && b.agents !== null) {
    if (!Array.isArray(b.agents) || !b.agents.every((a) => typeof a === 'string' && a !== ''))
      throw new InvalidArgumentError('agents', 'expected a list of agent ids');
    if (b.agents.length > 0) req.agents = b.agents as string[];
  }
  return req;
}
