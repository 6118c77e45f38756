import { type AgentInfo, redisKeys } from '@floe/contracts';
import type { Redis } from 'ioredis';

/**
 * The agent's presence in Redis: `floe:agents:<id>` holds its AgentInfo with a TTL that each
 * heartbeat renews, so an agent that dies drops out of placement by itself when the key
 * expires; a clean shutdown deletes it at once.
 */
export class Membership {
  private timer?: NodeJS.Timeout;
  private readonly keys: ReturnType<typeof redisKeys>;

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
    const info = { ...this.snapshot(), heartbeatAt: Date.now() };
    await this.redis
      .multi()
      .set(this.keys.agent(info.id), JSON.stringify(info), 'PX', this.opts.ttlMs)
      .sadd(this.keys.agentsSet, info.id)
      .exec();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const id = this.snapshot().id;
    await this.redis.multi().del(this.keys.agent(id)).srem(this.keys.agentsSet, id).exec();
  }
}
