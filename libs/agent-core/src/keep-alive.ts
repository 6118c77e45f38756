/**
 * How long an idle instance of a function is worth keeping, learned from how the function is
 * called: the hybrid histogram policy of "Serverless in the Wild" (Shahrad et al., ATC'20).
 *
 * Per function, the idle times between one call's end and the next call's start go into a
 * histogram with log-spaced bins (0.1 s … ~4.6 h). Once it holds `minSamples` of them:
 * - the keep-alive is the 99th percentile idle time plus a 10% margin, clamped to
 *   [minMs, maxMs]: a function called every minute keeps its instance a little over a minute
 *   (not the fixed 10 min), one called every 20 minutes keeps it past the fixed keep-alive;
 * - most idle times past the last bin (a daily job) mean the pattern is out of the histogram's
 *   range, and the fixed keep-alive applies, as with too few samples.
 *
 * Under memory pressure the same histogram orders eviction: the instance whose function is
 * expected to be called last goes first (`nextCallAt`), Belady-style. A function with no
 * pattern yet, or idle past its keep-alive, has no expected call and goes before any that has.
 */
export interface KeepAliveSettings {
  /** The fixed keep-alive: used until a function has a pattern (FLOE_KEEP_ALIVE_MS). */
  fixedMs: number;
  minMs: number;
  maxMs: number;
  /** Idle times a histogram needs before it is trusted. */
  minSamples: number;
}

export type KeepAlivePolicyName = 'fixed' | 'histogram';

export interface KeepAliveChoice {
  ms: number;
  policy: KeepAlivePolicyName;
}

const FIRST_BIN_MS = 100;
/** Bin i holds idle times in [100 ms × 2^(i-1), 100 ms × 2^i); the last one everything longer. */
const BINS = 18;
/** Idle times are counted with exponential forgetting, so a function whose rhythm changed adapts. */
const DECAY = 0.98;

class IdleHistogram {
  readonly counts = new Float64Array(BINS + 1);
  total = 0;
  samples = 0;
  lastEnd = 0;

  add(idleMs: number): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] = (this.counts[i] ?? 0) * DECAY;
    this.total = this.total * DECAY + 1;
    this.samples++;
    const bin = idleMs < FIRST_BIN_MS ? 0 : Math.min(BINS, Math.floor(Math.log2(idleMs / FIRST_BIN_MS)) + 1);
    this.counts[bin] = (this.counts[bin] ?? 0) + 1;
  }

  /** Upper edge (ms) of the bin holding quantile `q`; Infinity when it falls past the last bin. */
  quantileMs(q: number): number {
    let acc = 0;
    for (let i = 0; i < BINS; i++) {
      acc += this.counts[i] ?? 0;
      if (acc >= q * this.total) return FIRST_BIN_MS * 2 ** i;
    }
    return Number.POSITIVE_INFINITY;
  }
}

export class KeepAlivePolicy {
  private readonly fns = new Map<string, IdleHistogram>();

  constructor(private readonly settings: KeepAliveSettings) {}

  /** A call of `key` starts at `now`: the idle time since its previous call ended is a sample. */
  callStarted(key: string, now: number): void {
    let h = this.fns.get(key);
    if (!h) {
      h = new IdleHistogram();
      this.fns.set(key, h);
    } else if (h.lastEnd > 0) h.add(Math.max(0, now - h.lastEnd));
    h.lastEnd = 0;
  }

  /** A call of `key` ended at `now` (the idle time starts). */
  callEnded(key: string, now: number): void {
    const h = this.fns.get(key);
    if (h) h.lastEnd = now;
  }

  /** The keep-alive for an idle instance of `key`, and which policy chose it. */
  keepAlive(key: string): KeepAliveChoice {
    const s = this.settings;
    const h = this.fns.get(key);
    if (!h || h.samples < s.minSamples) return { ms: s.fixedMs, policy: 'fixed' };
    const p99 = h.quantileMs(0.99);
    if (!Number.isFinite(p99)) return { ms: s.fixedMs, policy: 'fixed' };
    return { ms: Math.min(s.maxMs, Math.max(s.minMs, Math.round(p99 * 1.1))), policy: 'histogram' };
  }

  /**
   * When the next call of `key` is expected, given its instance was last used at `lastUsed`:
   * `lastUsed` plus its median idle time, or Infinity when nothing predicts one (no pattern
   * yet, or already idle past its keep-alive).
   */
  nextCallAt(key: string | undefined, lastUsed: number, now: number): number {
    const h = key ? this.fns.get(key) : undefined;
    if (!key || !h || h.samples < this.settings.minSamples) return Number.POSITIVE_INFINITY;
    const ka = this.keepAlive(key);
    if (ka.policy === 'fixed' || now - lastUsed > ka.ms) return Number.POSITIVE_INFINITY;
    return lastUsed + Math.min(h.quantileMs(0.5), ka.ms);
  }

  forget(key: string): void {
    this.fns.delete(key);
  }

  get size(): number {
    return this.fns.size;
  }
}
