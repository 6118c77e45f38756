import { EventEmitter } from 'node:events';
import type { AgentHeartbeat, AgentInfo } from '@floe/contracts';
import type { Redis } from 'ioredis';
import type { SchedulerKeys } from './keys.js';

/** A seen instance outlives no heartbeat newer than it, and this long at most. */
const SEEN_MAX_MS = 10_000;

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
 * A call this replica placed that came back tells it more, and sooner, than the agent's next
 * heartbeat: the agent has an instance of that function now (`noteInstance`). Until a newer
 * heartbeat says otherwise, placement and fn.place count it; without that, a new function's
 * calls went through the scheduler for a heartbeat and a poll (up to ~1.5 s) after its first
 * instance was up, instead of straight to the agent.
 *
 * Emits `up(info)` when an agent appears (or restarts: new startedAt) and `down(id)`.
 */
export class AgentDirectory extends EventEmitter {
  private live = new Map<string, AgentInfo>();
  private readonly suspended = new Map<string, number>();
  /** Per agent, function keys a call found an instance of, and when: newer than its heartbeat. */
  private readonly seen = new Map<string, Map<string, number>>();
  /** An info with seen instances added, to the counts its agent reported (reused by the next poll). */
  private readonly reported = new WeakMap<AgentInfo, AgentInfo['functions']>();
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

  /** A call of function `key` on agent `id` came back: that agent has an instance of it now. */
  noteInstance(id: string, key: string): void {
    const info = this.live.get(id);
    if (!info || (info.functions[key]?.instances ?? 0) > 0) return;
    const keys = this.seen.get(id) ?? new Map<string, number>();
    this.seen.set(id, keys);
    keys.set(key, Date.now());
    // Already a copy of ours (an earlier seen instance): one more entry, not a copy of every
    // function the agent holds on each first call.
    if (this.reported.has(info)) info.functions[key] = seenCounts(info.functions[key]);
    else this.live.set(id, this.withSeen(info, keys));
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
        next.set(id, { ...b, functions: this.reported.get(old) ?? old.functions });
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
    this.keepSeen(next);
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

  /** What calls saw and a heartbeat has not reported since stays on top of the reported counts. */
  private keepSeen(next: Map<string, AgentInfo>): void {
    for (const [id, keys] of this.seen) {
      const info = next.get(id);
      // Kept at most SEEN_MAX_MS, should the agent's clock lag this one's.
      const now = Date.now();
      if (info)
        for (const [key, at] of keys) if (info.heartbeatAt > at || now - at > SEEN_MAX_MS) keys.delete(key);
      if (!info || keys.size === 0) {
        this.seen.delete(id);
        continue;
      }
      next.set(id, this.withSeen(info, keys));
    }
  }

  /** `info` with one idle, ready instance for each of `keys` its report counts none of. */
  private withSeen(info: AgentInfo, keys: Map<string, number>): AgentInfo {
    const base = this.reported.get(info) ?? info.functions;
    const functions = { ...base };
    for (const key of keys.keys()) {
      const f = base[key];
      if ((f?.instances ?? 0) > 0) continue;
      functions[key] = seenCounts(f);
    }
    const out = { ...info, functions };
    this.reported.set(out, base);
    return out;
  }
}

/** The counts of one instance a call found: idle and ready now that its call came back. */
const seenCounts = (f?: AgentInfo['functions'][string]) => ({
  instances: 1,
  idle: 1,
  inflight: f?.inflight ?? 0,
  ready: 1,
});
