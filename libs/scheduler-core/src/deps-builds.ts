import { createHash } from 'node:crypto';
import {
  type AgentInfo,
  type BuildLogResponse,
  FloeError,
  type FunctionDeployment,
  InvalidArgumentError,
} from '@floe/contracts';
import { type DepsSpec, depsSpec, readManifestFiles } from '@floe/overlay-snapshots';
import type { Redis } from 'ioredis';
import type { AgentClientFactory } from './agent-client.js';
import type { AgentDirectory } from './agent-directory.js';
import type { SchedulerKeys } from './keys.js';

/** A deploy's dependencies, once an agent holds their layer. */
export interface PreparedDeps {
  spec: DepsSpec;
  cached: boolean;
}

/** Build ids come from clients (the CLI makes one per deploy): a short opaque token. */
const BUILD_ID = /^[A-Za-z0-9_-]{8,64}$/;

export function checkBuildId(id: unknown): string | undefined {
  if (id === undefined || id === null || id === '') return undefined;
  if (typeof id !== 'string' || !BUILD_ID.test(id))
    throw new InvalidArgumentError('buildId', 'expected 8-64 of [A-Za-z0-9_-]');
  return id;
}

/**
 * The agent that builds `key`: highest rendezvous hash among the placeable agents, so the
 * same lockfile goes to the same agent while it is up (and its layer is there: "cached").
 */
export function builderFor(key: string, agents: AgentInfo[]): AgentInfo | undefined {
  let best: AgentInfo | undefined;
  let bestScore = '';
  for (const a of agents) {
    const score = createHash('sha256').update(`${key}\0${a.id}`).digest('hex');
    if (score > bestScore) {
      best = a;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Dependencies at deploy: reads the lock files from the code archive, stores them under the
 * key (so any agent can build the same layer on demand) and has one agent build or confirm
 * the layer before the version is written. A failed build removes the stored lock files
 * again unless a deployed version already uses the key.
 */
export class DepsBuilds {
  constructor(
    private readonly redis: Redis,
    private readonly keys: SchedulerKeys,
    private readonly directory: AgentDirectory,
    private readonly clients: AgentClientFactory,
    private readonly timeoutMs: number,
  ) {}

  async prepare(dep: FunctionDeployment, buildId?: string): Promise<PreparedDeps | undefined> {
    if (!dep.code || (dep.runtime !== 'node' && dep.runtime !== 'python')) return undefined;
    const spec = depsSpec(dep.runtime, await readManifestFiles(Buffer.from(dep.code, 'base64')));
    if (!spec) return undefined;
    const agent = builderFor(spec.key, this.directory.agents());
    if (!agent)
      throw new FloeError('UNAVAILABLE', `dependencies of ${dep.service}: no agent is up to build them`, {
        details: { retryAfterSeconds: 5 },
      });
    await this.redis.set(this.keys.deps(spec.key), JSON.stringify(spec.files));
    try {
      const r = await this.clients
        .get(agent)
        .depsBuild(
          { runtime: spec.runtime, key: spec.key, files: spec.files, ...(buildId ? { buildId } : {}) },
          this.timeoutMs,
        );
      return { spec, cached: r.cached };
    } catch (err) {
      if ((await this.redis.scard(this.keys.depsRefs(spec.key)).catch(() => 1)) === 0)
        await this.redis.del(this.keys.deps(spec.key)).catch(() => {});
      throw err;
    }
  }

  /** build.log: the lines of build `id` from index `after` on. */
  async log(id: unknown, after: unknown): Promise<BuildLogResponse> {
    const build = checkBuildId(id);
    if (!build) throw new InvalidArgumentError('id', 'required');
    const from = after === undefined ? 0 : Number(after);
    if (!Number.isInteger(from) || from < 0)
      throw new InvalidArgumentError('after', 'expected an integer >= 0');
    const lines = await this.redis.lrange(this.keys.buildLog(build), from, -1);
    return { lines, next: from + lines.length };
  }
}
