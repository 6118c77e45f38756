import type { InstanceState } from './instance-state.js';

/** What picking a surplus instance looks at. */
export interface ScaleInCandidate {
  readonly state: InstanceState;
  readonly live: boolean;
  readonly inflight: number;
  readonly lastUsed: number;
}

/**
 * The instances to destroy so that `keep` of a function's live instances remain (the
 * scheduler's partial scale-in). Only an idle or paused instance with no call in flight and
 * none for `idleMs` is surplus, least recently used first: an instance that served a call
 * lately is evidence of load, so it stays even if that leaves more than `keep`.
 */
export function surplusInstances<T extends ScaleInCandidate>(
  instances: Iterable<T>,
  keep: number,
  idleMs: number,
  now: number,
): T[] {
  const live = [...instances].filter((i) => i.live);
  const excess = live.length - Math.max(0, keep);
  if (excess <= 0) return [];
  return live
    .filter(
      (i) => i.inflight === 0 && (i.state === 'idle' || i.state === 'paused') && now - i.lastUsed >= idleMs,
    )
    .sort((a, b) => a.lastUsed - b.lastUsed)
    .slice(0, excess);
}
