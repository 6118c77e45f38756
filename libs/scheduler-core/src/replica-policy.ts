import { LABEL_SCALE_ZERO, LABEL_SCALE_ZERO_DURATION, parseDurationMs } from '@floe/contracts';
import type { FunctionEntry } from './function-registry.js';

/** The platform-wide half of the scale-to-zero policy (the other half is per-function labels). */
export interface ZeroSettings {
  /** Every function may scale to zero, as if it carried com.openfaas.scale.zero=true. */
  scaleToZero?: boolean;
  /** Idle time before a function that may scales to zero, when it names no zero-duration. */
  scaleToZeroMs: number;
}

/**
 * Why a function's floor is what it is: its min scale (`min`), replicas asked for through
 * /system/scale-function (`scaled`), held at zero by a scale to 0 until its next call or
 * a new version (`held`), or scaled to zero after idling with scale to zero on (`idle`).
 */
export type FloorReason = 'min' | 'scaled' | 'held' | 'idle';

/**
 * The fewest instances a function should have now. `lastActivity` is its last call start or
 * end, or its version's creation if later (a fresh deploy counts as activity); `demand` the
 * calls in flight or queued for it. As in OpenFaaS, min scale instances stay up unless the
 * function opted in to scale to zero (or the platform did for all).
 */
export function replicaFloor(
  entry: FunctionEntry,
  lastActivity: number,
  demand: number,
  now: number,
  settings: ZeroSettings,
): { floor: number; why: FloorReason } {
  const { record, version } = entry;
  if (record.replicas === 0 && lastActivity <= (record.scaledAt ?? 0)) return { floor: 0, why: 'held' };
  const zeroAfter = zeroAfterMs(entry, settings);
  if (zeroAfter !== undefined && demand === 0 && now - lastActivity >= zeroAfter)
    return { floor: 0, why: 'idle' };
  const scaled = record.replicas ?? 0;
  return scaled > version.minScale
    ? { floor: scaled, why: 'scaled' }
    : { floor: version.minScale, why: 'min' };
}

/** Idle time after which the function scales to zero, or undefined when it never does. */
export function zeroAfterMs(entry: FunctionEntry, settings: ZeroSettings): number | undefined {
  const labels = entry.version.deployment.labels ?? {};
  const optIn = labels[LABEL_SCALE_ZERO];
  if (optIn === 'false' || (optIn !== 'true' && !settings.scaleToZero)) return undefined;
  return parseDurationMs(labels[LABEL_SCALE_ZERO_DURATION] ?? '') ?? settings.scaleToZeroMs;
}
