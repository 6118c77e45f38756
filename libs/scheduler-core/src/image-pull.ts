import {
  type AgentInfo,
  type AgentPullResult,
  FloeError,
  type ImagePullEvent,
  type ImagePullRequest,
  InvalidArgumentError,
} from '@floe/contracts';
import type { AgentClientFactory } from './agent-client.js';
import type { AgentDirectory } from './agent-directory.js';
import { UnavailableError } from './errors.js';
import type { ImageResolver } from './image-resolver.js';

/**
 * `floe images pull`: the ref is resolved here once, with the namespace's credentials, so a
 * bad ref, a missing tag or refused credentials fail before anything is sent (a 4xx naming
 * `image`); then every chosen agent pulls the same pinned digest at once, each one's layer
 * progress forwarded as it comes. An agent that fails is reported in its `agent` event and in
 * `done`; it does not stop the others.
 */
export class ImagePullService {
  constructor(
    private readonly resolver: ImageResolver | undefined,
    private readonly directory: AgentDirectory,
    private readonly clients: AgentClientFactory,
    /** How long an agent may send nothing before its pull counts as lost. */
    private readonly idleMs: number,
  ) {}

  async pull(req: ImagePullRequest, emit: (e: ImagePullEvent) => void): Promise<void> {
    if (typeof req?.image !== 'string' || !req.image)
      throw new InvalidArgumentError('image', 'required: an image reference (host[:port]/repo:tag)');
    if (!this.resolver)
      throw new FloeError('FAILED_PRECONDITION', 'this scheduler has no registry client', {
        details: { field: 'image' },
      });
    const targets = this.targets(req.agents);
    const img = await this.resolver.describe(req.image, req.namespace);
    emit({
      type: 'resolved',
      image: req.image,
      pinned: img.pinned,
      digest: img.digest,
      size: img.size,
      layers: img.layers,
      agents: targets.map((a) => a.id),
    });
    const agents = await Promise.all(
      targets.map(async (a) => {
        const r = await this.onAgent(
          a,
          { image: req.image, pinned: img.pinned, namespace: req.namespace },
          img.size,
          emit,
        );
        emit({ type: 'agent', ...r });
        return r;
      }),
    );
    emit({
      type: 'done',
      image: req.image,
      pinned: img.pinned,
      digest: img.digest,
      size: img.size,
      layers: img.layers.length,
      agents,
    });
  }

  private targets(ids: unknown): AgentInfo[] {
    if (ids === undefined || (Array.isArray(ids) && ids.length === 0)) {
      const live = this.directory.agents();
      if (live.length === 0) throw new UnavailableError('no live agent to pull the image onto');
      return live;
    }
    if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string'))
      throw new InvalidArgumentError('agents', 'expected a list of agent ids');
    return ids.map((id) => {
      const a = this.directory.get(id);
      if (!a) {
        const known = this.directory.all().map((x) => x.id);
        throw new InvalidArgumentError(
          'agents',
          `no live agent '${id}' (live: ${known.join(', ') || 'none'})`,
        );
      }
      return a;
    });
  }

  private async onAgent(
    a: AgentInfo,
    req: { image: string; pinned: string; namespace: string },
    total: number,
    emit: (e: ImagePullEvent) => void,
  ): Promise<AgentPullResult> {
    const t0 = Date.now();
    const seconds = () => Math.round(Date.now() - t0) / 1000;
    const bytes = new Map<string, number>();
    try {
      const client = this.clients.get(a);
      if (!client.pull) throw new FloeError('INTERNAL', `agent ${a.id}: its client cannot pull`);
      let finished = false;
      await client.pull(
        req,
        (e) => {
          if (e.type === 'done') {
            finished = true;
            return;
          }
          bytes.set(e.digest, e.bytes);
          let done = 0;
          for (const n of bytes.values()) done += n;
          emit({ ...e, agent: a.id, done, total });
        },
        this.idleMs,
      );
      if (!finished) throw new UnavailableError(`agent ${a.id}: the pull ended without a result`);
      return { agent: a.id, ok: true, seconds: seconds() };
    } catch (err) {
      const e = err as { code?: string; message?: string };
      return {
        agent: a.id,
        ok: false,
        seconds: seconds(),
        error: { code: e?.code ?? 'INTERNAL', message: e?.message ?? String(err) },
      };
    }
  }
}
