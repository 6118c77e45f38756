/**
 * In-flight calls per function per agent, counted by this replica in memory: incremented
 * before the agent call and decremented after. Placement reads it to honor
 * maxConcurrency × instances between heartbeats; the autoscaler reads it as demand.
 * Also counts invocations since the last flush to Redis (fn.list's invocationCount).
 */
export class LoadTracker {
  private readonly inflight = new Map<string, Map<string, number>>();
  private readonly waiting = new Map<string, number>();
  private pending = new Map<string, { count: number; last: number }>();
  private readonly lastCall = new Map<string, number>();

  acquire(key: string, agentId: string): void {
    const m = this.inflight.get(key) ?? new Map<string, number>();
    this.inflight.set(key, m);
    m.set(agentId, (m.get(agentId) ?? 0) + 1);
    const now = Date.now();
    this.lastCall.set(key, now);
    const p = this.pending.get(key);
    if (p) {
      p.count++;
      p.last = now;
    } else this.pending.set(key, { count: 1, last: now });
  }

  /** Calls made elsewhere (the gateway's direct route): counted, and activity at `last`. */
  record(key: string, count: number, last: number): void {
    const at = Math.min(last, Date.now());
    this.lastCall.set(key, Math.max(this.lastCall.get(key) ?? 0, at));
    const p = this.pending.get(key);
    if (p) {
      p.count += count;
      p.last = Math.max(p.last, at);
    } else this.pending.set(key, { count, last: at });
  }

  release(key: string, agentId: string): void {
    const m = this.inflight.get(key);
    const n = m?.get(agentId) ?? 0;
    if (!m || n <= 1) m?.delete(agentId);
    else m.set(agentId, n - 1);
    this.lastCall.set(key, Date.now());
  }

  /** Calls of `key` in flight on `agentId`, by this replica. */
  on(key: string, agentId: string): number {
    return this.inflight.get(key)?.get(agentId) ?? 0;
  }

  total(key: string): number {
    let sum = 0;
    for (const n of this.inflight.get(key)?.values() ?? []) sum += n;
    return sum;
  }

  /** Calls queued for capacity; part of the demand the autoscaler sees. */
  setWaiting(key: string, n: number): void {
    if (n <= 0) this.waiting.delete(key);
    else this.waiting.set(key, n);
  }

  waitingFor(key: string): number {
    return this.waiting.get(key) ?? 0;
  }

  /** Last call start or end seen by this replica, epoch ms (0 if never). */
  lastActivity(key: string): number {
    return this.lastCall.get(key) ?? 0;
  }

  /** Takes the invocation counts accumulated since the previous call. */
  drainStats(): Map<string, { count: number; last: number }> {
    const out = this.pending;
    this.pending = new Map();
    return out;
  }

  /** Puts back counts whose flush failed (Redis down), so none are lost. */
  restoreStats(stats: Map<string, { count: number; last: number }>): void {
    for (const [k, s] of stats) {
      const p = this.pending.get(k);
      if (p) {
        p.count += s.count;
        p.last = Math.max(p.last, s.last);
      } else this.pending.set(k, s);
    }
  }

  forget(key: string): void {
    this.inflight.delete(key);
    this.waiting.delete(key);
    this.lastCall.delete(key);
  }
}
