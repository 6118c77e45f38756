import { FloeError } from '@floe/contracts';
import type { Instance } from './instance.js';
import type { KeepAlivePolicy } from './keep-alive.js';
import type { PoolOptions } from './pool.js';
import { chargedBytes, type PoolRegistry } from './pool-registry.js';

/** Why an instance was evicted: the `reason` label of floe_evictions_total. */
export type EvictionReason = 'capacity' | 'thaw' | 'keep_alive';

/**
 * Keeps the agent's containers within its memory, by eviction. Two bounds hold at all times:
 * - admitted memory ≤ capacity, where a frozen instance counts at its measured usage and every
 *   other one at its limit (pool-registry.ts `usedBytes`). A thawed instance may grow to its
 *   limit, so thawing one re-admits it at its limit first (`makeRoomToThaw`): even if every
 *   running instance grows to its limit at once, the host stays within capacity;
 * - the sum of all limits ≤ capacity × overcommit (FLOE_AGENT_OVERCOMMIT): how many frozen
 *   instances the agent keeps, so a burst of thaws needs a bounded number of evictions.
 *
 * Victims are never busy: frozen instances first, then stemcells; among them, the one whose
 * function is expected to be called last (keep-alive.ts `nextCallAt`), then least recently used.
 */
export class Capacity {
  constructor(
    private readonly registry: PoolRegistry,
    private readonly opts: PoolOptions,
    private readonly destroy: (inst: Instance) => Promise<void>,
    private readonly policy?: KeepAlivePolicy,
  ) {}

  get limitCapBytes(): number {
    return this.opts.capacityBytes * Math.max(1, this.opts.overcommit ?? 1);
  }

  /** INVALID_ARGUMENT for a limit this agent could never admit, whatever it evicted. */
  check(bytes: number): void {
    if (bytes > this.opts.capacityBytes) {
      throw new FloeError(
        'INVALID_ARGUMENT',
        `memory ${bytes} exceeds this agent's capacity ${this.opts.capacityBytes}`,
        { fault: 'user' },
      );
    }
  }

  /** Whether `used` more admitted bytes and `limit` more limit bytes fit without evicting. */
  fits(used: number, limit = used): boolean {
    return (
      this.registry.usedBytes + used <= this.opts.capacityBytes &&
      this.registry.limitBytes + limit <= this.limitCapBytes
    );
  }

  /**
   * Evicts until `bytes` more (at their limit) fit, or fails: never evicts a busy instance.
   * `bytes` 0 makes what is already admitted fit (a stemcell just re-admitted at a function's limit).
   */
  async makeRoom(
    bytes: number,
    opts: { exclude?: Instance; reason?: EvictionReason; limitBytes?: number } = {},
  ): Promise<void> {
    this.check(bytes);
    await this.evictUntil(bytes, opts.limitBytes ?? bytes, opts.exclude, opts.reason ?? 'capacity');
  }

  /** A frozen instance may be thawed at once: its limit fits in place of its usage. */
  fitsThaw(inst: Instance): boolean {
    return this.registry.usedBytes - chargedBytes(inst) + inst.reservedBytes <= this.opts.capacityBytes;
  }

  /** Evicts other idle instances until `inst` fits thawed; RESOURCE_EXHAUSTED if it can't. */
  async makeRoomToThaw(inst: Instance): Promise<void> {
    await this.evictUntil(inst.reservedBytes - chargedBytes(inst), 0, inst, 'thaw');
  }

  /** Memory eviction could give back now: admitted bytes of every instance that is not busy. */
  evictableBytes(): number {
    let sum = 0;
    for (const i of this.registry.instances.values()) if (evictable(i)) sum += chargedBytes(i);
    return sum;
  }

  private async evictUntil(
    used: number,
    limit: number,
    exclude: Instance | undefined,
    reason: EvictionReason,
  ): Promise<void> {
    let admitted = this.registry.usedBytes + used;
    let limits = this.registry.limitBytes + limit;
    const over = () => admitted > this.opts.capacityBytes || limits > this.limitCapBytes;
    if (!over()) return;
    const victims = this.victims(exclude);
    const gone: Promise<void>[] = [];
    for (const v of victims) {
      if (!over()) break;
      admitted -= chargedBytes(v);
      limits -= v.reservedBytes;
      this.opts.events?.evict?.(reason, v);
      // Leaves the registry at once (lifecycle.destroy), so concurrent admissions see it gone.
      gone.push(this.destroy(v));
    }
    // The thaw or start waits until the victims' memory is really free.
    await Promise.all(gone);
    // Re-checked from the registry: another admission may have taken the room meanwhile.
    if (!this.fits(used, limit))
      throw new FloeError('RESOURCE_EXHAUSTED', 'agent memory is full of busy instances', {
        details: { retryAfterSeconds: 1 },
      });
  }

  private victims(exclude?: Instance): Instance[] {
    const now = Date.now();
    const next = new Map<Instance, number>();
    const out: Instance[] = [];
    for (const i of this.registry.instances.values()) {
      if (i === exclude || !evictable(i)) continue;
      out.push(i);
      next.set(i, this.policy?.nextCallAt(i.key, i.lastUsed, now) ?? Number.POSITIVE_INFINITY);
    }
    return out.sort(
      (a, b) =>
        rank(a) - rank(b) ||
        // Expected to be called last goes first (Infinity: nothing predicts a call).
        cmpDesc(next.get(a) ?? 0, next.get(b) ?? 0) ||
        a.lastUsed - b.lastUsed,
    );
  }
}

/** Not busy: no call holds it (a paused one being taken for a call has `inflight` set). */
function evictable(i: Instance): boolean {
  return i.inflight === 0 && (i.state === 'paused' || i.state === 'stemcell' || i.state === 'idle');
}

function rank(i: Instance): number {
  return i.state === 'stemcell' ? 1 : 0;
}

function cmpDesc(a: number, b: number): number {
  if (a === b) return 0;
  return a > b ? -1 : 1;
}
