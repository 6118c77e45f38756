import type { Instance } from './instance.js';
import type { InstanceState } from './instance-state.js';
import type { PoolOptions } from './pool.js';

const now = () => performance.now();
const MEASURE_EVERY_MS = 1000;

/**
 * Takes idle instances down: freezes one once its pause grace ends, and gives back a paused
 * one's reclaimable memory later. Thawing is the invoke path's, in pool.ts (`Pool.resume`).
 */
export class Freezer {
  private readonly reclaimTimers = new WeakMap<Instance, NodeJS.Timeout>();
  private readonly measuring = new WeakSet<Instance>();

  constructor(
    private readonly opts: PoolOptions,
    private readonly destroy: (inst: Instance) => Promise<void>,
  ) {}

  pause(inst: Instance): Promise<void> {
    return inst.serialize(async () => {
      if (inst.state !== 'idle' || inst.inflight > 0) return;
      inst.sm.transition('pausing');
      const t0 = now();
      try {
        await inst.backend.freeze();
      } catch (err) {
        // Destroyed while freezing (keep-alive, eviction, shutdown): nothing went wrong.
        if (!inst.live) return;
        this.opts.events?.error?.(`freezing ${inst.id}`, err);
        await this.destroy(inst);
        return;
      }
      this.opts.events?.freeze?.(now() - t0);
      if ((inst.state as InstanceState) === 'pausing') {
        inst.sm.transition('paused');
        this.scheduleMeasure(inst);
      }
    });
  }

  /**
   * Called on entering `paused`: reclaims once the instance has stayed paused for
   * `reclaimAfterMs`. The timer belongs to this pause only (cancelReclaim on leaving it):
   * a timer left over from an earlier pause would reclaim an instance paused a moment ago,
   * and its next thaw would pay for restoring the limit.
   */
  scheduleReclaim(inst: Instance): void {
    if (!inst.backend.reclaim) return;
    this.cancelReclaim(inst);
    const timer = setTimeout(() => {
      this.reclaimTimers.delete(inst);
      if (inst.state !== 'paused' || inst.reclaimed) return;
      inst.serialize(async () => {
        if (inst.state !== 'paused') return;
        await inst.backend.reclaim?.();
        inst.reclaimed = true;
        await measureFrozen(inst);
      });
    }, this.opts.reclaimAfterMs).unref();
    this.reclaimTimers.set(inst, timer);
  }

  /**
   * Measures a paused instance's usage now, or, if it was measured less than a second ago (an
   * instance paused after every call), once that second is over and only if it is still paused:
   * a hot loop pays one cgroup read a second, not one per call. Until measured it counts at its
   * limit, which is never an undercount.
   */
  scheduleMeasure(inst: Instance): void {
    if (this.measuring.has(inst)) return;
    const wait = (inst.measuredAt ?? 0) + MEASURE_EVERY_MS - Date.now();
    if (wait <= 0) {
      void measureFrozen(inst);
      return;
    }
    this.measuring.add(inst);
    setTimeout(() => {
      this.measuring.delete(inst);
      if (inst.state === 'paused' && inst.frozenBytes === undefined) void measureFrozen(inst);
    }, wait).unref();
  }

  cancelReclaim(inst: Instance): void {
    clearTimeout(this.reclaimTimers.get(inst));
    this.reclaimTimers.delete(inst);
  }
}

/**
 * Records a frozen instance's cgroup usage, which admission counts it at from then on
 * (capacity.ts). Read once per freeze, off the invoke path; a failed read leaves it counted
 * at its limit.
 */
export async function measureFrozen(inst: Instance): Promise<void> {
  const state = inst.state;
  if (state !== 'paused' && state !== 'stemcell' && state !== 'creating') return;
  inst.measuredAt = Date.now();
  try {
    const { bytes } = await inst.backend.memoryUsage();
    if (inst.state === 'paused' || inst.state === 'stemcell') inst.frozenBytes = bytes;
  } catch {}
}
