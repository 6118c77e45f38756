import { EventEmitter } from 'node:events';
import type { AgentHeartbeat, AgentInfo } from '@floe/contracts';
import type { Redis } from 'ioredis';
import type { SchedulerKeys } from './keys.js';

/**
 * Live agents, read from Redis every `pollMs`: `SMEMBERS agents` then `MGET` of their TTL
 * keys. An agent whose key expired (missed heartbeats) leaves placement on the next poll;
 * the leader also removes it from the set. An agent a call found dead is suspended at
 * once until it publishes a newer heartbeat.
 *
 * While Redis is unreachable the last known agents are kept: they are probably still
 * there, and invocations (which need no Redis) keep working.
 *
 * A heartbeat names the revision of the agent's per-function counts, kept in their own key
 * (agent-core membership.ts); they are fetched only when the revision moved, so a poll costs
 * the same with ten functions or ten thousand.
 *
 * Emits `up(info)` when an agent appears (or restarts: new startedAt) and `down(id)`.
 */
export class AgentDirectory extends EventEmitter {
  private live = new Map<string, AgentInfo>();
  private readonly suspended = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private polling = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: SchedulerKeys,
    private readonly opts: { pollMs: number },
  ) {
    super();
  }

  async start(): Promise<void> {
    await this.poll().catch(() => {});
    this.timer = setInterval(() => void this.poll().catch(() => {}), this.opts.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Agents eligible for placement, in stable id order. */
  agents(): AgentInfo[] {
    const out: AgentInfo[] = [];
    for (const a of this.live.values()) if (!this.suspended.has(a.id)) out.push(a);
    return out;
  }

  /** Every known agent, suspended ones included (agents.list, logs fan-out). */
  all(): AgentInfo[] {
    return [...this.live.values()];
  }

  get(id: string): AgentInfo | undefined {
    return this.live.get(id);
  }

  isSuspended(id: string): boolean {
    return this.suspended.has(id);
  }

  /** Out of placement until its heartbeat is newer than now. */
  suspend(id: string): void {
    this.suspended.set(id, Date.now());
  }

  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const ids = (await this.redis.smembers(this.keys.agentsSet)).sort();
      const raws = ids.length ? await this.redis.mget(...ids.map((id) => this.keys.agent(id))) : [];
      const beats = new Map<string, AgentHeartbeat>();
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const raw = raws[i];
        if (raw) beats.set(id, JSON.parse(raw) as AgentHeartbeat);
        else gone.push(id);
      });
      this.apply(await this.withFunctions(beats));
      // Pruning the set is harmless if several replicas do it; an agent re-adds itself on its next beat.
      if (gone.length) await this.redis.srem(this.keys.agentsSet, ...gone);
    } finally {
      this.polling = false;
    }
  }

  /** Fills each beat's `functions`: inline, unchanged since the last poll, or read from its key. */
  private async withFunctions(beats: Map<string, AgentHeartbeat>): Promise<Map<string, AgentInfo>> {
    const next = new Map<string, AgentInfo>();
    const stale: string[] = [];
    for (const [id, b] of beats) {
      const old = this.live.get(id) as (AgentInfo & { functionsRev?: number }) | undefined;
      if (b.functions) next.set(id, b as AgentInfo);
      else if (old && old.startedAt === b.startedAt && old.functionsRev === b.functionsRev)
        next.set(id, { ...b, functions: old.functions });
      else stale.push(id);
    }
    if (stale.length) {
      const raws = await this.redis.mget(...stale.map((id) => this.keys.agentFunctions(id)));
      stale.forEach((id, i) => {
        const b = beats.get(id) as AgentHeartbeat;
        const raw = raws[i];
        // Not there (yet): no counts, and no revision, so the next poll reads them again.
        if (raw) next.set(id, { ...b, functions: JSON.parse(raw) });
        else next.set(id, { ...b, functions: {}, functionsRev: -1 } as AgentInfo);
      });
    }
    return next;
  }

  private apply(next: Map<string, AgentInfo>): void {
    const prev = this.live;
    this.live = next;
    for (const [id, info] of next) {
      const old = prev.get(id);
      const since = this.suspended.get(id);
      if (since !== undefined && info.heartbeatAt > since) this.suspended.delete(id);
      if (!old || old.startedAt !== info.startedAt || old.rpc !== info.rpc) this.emit('up', info);
    }
    for (const id of prev.keys()) {
      if (!next.has(id)) {
        this.suspended.delete(id);
        this.emit('down', id);
      }
    }
  }
}
