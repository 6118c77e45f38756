import { type AgentHeartbeat, type AgentInfo, redisKeys } from '@floe/contracts';
import type { Redis } from 'ioredis';

/**
 * The agent's presence in Redis: `floe:agents:<id>` holds its AgentInfo with a TTL that each
 * heartbeat renews, so an agent that dies drops out of placement by itself when the key
 * expires; a clean shutdown deletes it at once.
 *
 * The per-function instance counts go to their own key, written only when they changed (a
 * revision in the beat says which): with thousands of frozen instances, a beat would otherwise
 * carry every function each second, and every scheduler would parse it each poll.
 */
export class Membership {
  private timer?: NodeJS.Timeout;
  private readonly keys: ReturnType<typeof redisKeys>;
  private functionsRev = 0;
  private lastFunctions?: string;

  constructor(
    private readonly redis: Redis,
    private readonly snapshot: () => AgentInfo,
    private readonly opts: {
      intervalMs: number;
      ttlMs: number;
      prefix?: string;
      onBeat?: (ok: boolean) => void;
    },
  ) {
    this.keys = redisKeys(opts.prefix);
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      // A missed beat is retried on the next tick; Redis being away must not kill the agent.
      this.beat().then(
        () => this.opts.onBeat?.(true),
        () => this.opts.onBeat?.(false),
      );
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  async beat(): Promise<void> {
    const { functions, ...info } = { ...this.snapshot(), heartbeatAt: Date.now() };
    const blob = JSON.stringify(functions);
    const changed = blob !== this.lastFunctions;
    if (changed) this.functionsRev++;
    const beat: AgentHeartbeat = { ...info, functionsRev: this.functionsRev };
    const fnKey = this.keys.agentFunctions(info.id);
    const multi = this.redis.multi();
    // Counts first, then the beat naming their revision: a reader never sees a newer revision
    // than the counts stored.
    if (changed) multi.set(fnKey, blob, 'PX', this.opts.ttlMs);
    else multi.pexpire(fnKey, this.opts.ttlMs);
    const res = await multi
      .set(this.keys.agent(info.id), JSON.stringify(beat), 'PX', this.opts.ttlMs)
      .sadd(this.keys.agentsSet, info.id)
      .exec();
    // The counts' key was gone (Redis restarted or flushed): rewrite it on the next beat.
    this.lastFunctions = !changed && res?.[0]?.[1] === 0 ? undefined : blob;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const id = this.snapshot().id;
    await this.redis
      .multi()
      .del(this.keys.agent(id), this.keys.agentFunctions(id))
      .srem(this.keys.agentsSet, id)
      .exec();
  }
}
