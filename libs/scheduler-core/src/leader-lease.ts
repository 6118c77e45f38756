import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * One leader among scheduler replicas: `SET leader <id> NX PX ttl`, renewed every ttl/3 by
 * a compare-and-set script so a replica never extends a lease it lost. A replica that
 * cannot reach Redis steps down before its lease can have expired elsewhere (it counts
 * from its last successful renewal), so two leaders never act at once for long.
 *
 * Emits `change(isLeader)`.
 */
export class LeaderLease extends EventEmitter {
  private leader = false;
  private lastRenew = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly id: string,
    private readonly ttlMs = 5000,
  ) {
    super();
  }

  get isLeader(): boolean {
    return this.leader && Date.now() - this.lastRenew < this.ttlMs;
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), Math.floor(this.ttlMs / 3));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.leader) {
      await this.redis.eval(RELEASE, 1, this.key, this.id).catch(() => {});
      this.set(false);
    }
  }

  async tick(): Promise<void> {
    try {
      const ok = this.leader
        ? (await this.redis.eval(RENEW, 1, this.key, this.id, String(this.ttlMs))) === 1
        : (await this.redis.set(this.key, this.id, 'PX', this.ttlMs, 'NX')) === 'OK';
      if (ok) this.lastRenew = Date.now();
      this.set(ok);
    } catch {
      if (this.leader && Date.now() - this.lastRenew >= this.ttlMs * 0.8) this.set(false);
    }
  }

  private set(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.emit('change', leader);
  }
}
