import type { LayerProgress } from '@floe/contracts';

/**
 * Thins a pull's per-chunk layer progress to what is worth sending over RPC: a layer's first
 * and last report always pass (so started and finished are never lost), the ones between at
 * most once per `everyMs` per layer.
 */
export function throttleLayers(
  send: (p: LayerProgress) => void,
  everyMs: number,
  now: () => number = Date.now,
): (p: LayerProgress) => void {
  const last = new Map<string, number>();
  return (p) => {
    const t = now();
    const prev = last.get(p.digest);
    if (prev !== undefined && p.bytes < p.size && t - prev < everyMs) return;
    last.set(p.digest, t);
    send(p);
  };
}
