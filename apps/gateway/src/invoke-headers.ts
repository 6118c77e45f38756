import type { IncomingHttpHeaders } from 'node:http';
import type { StartKind } from '@floe/contracts';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded;
 * content-length is recomputed by whoever writes the body next.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
]);

/** Wall-clock now in epoch nanoseconds, as OpenFaaS writes X-Start-Time (µs precision; a ns integer exceeds 2^53). */
export function epochNanos(): string {
  return `${Math.round((performance.timeOrigin + performance.now()) * 1000)}000`;
}

/**
 * Headers sent to the function: the caller's, minus hop-by-hop ones, plus X-Call-Id,
 * X-Start-Time and X-Forwarded-For as the OpenFaaS gateway adds them.
 */
export function functionRequestHeaders(
  incoming: IncomingHttpHeaders,
  callId: string,
  startNs: string,
  remoteAddress: string | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key in incoming) {
    if (HOP_BY_HOP.has(key)) continue;
    const v = incoming[key];
    if (v === undefined) continue;
    out[key] = typeof v === 'string' ? v : v.join(', ');
  }
  out['x-call-id'] = callId;
  out['x-start-time'] = startNs;
  if (remoteAddress) {
    const prior = out['x-forwarded-for'];
    out['x-forwarded-for'] = prior ? `${prior}, ${remoteAddress}` : remoteAddress;
  }
  return out;
}

/** What the gateway adds to every invocation response. */
export interface InvokeStamp {
  callId: string;
  startNs: string;
  durationSeconds: number;
  start?: StartKind;
}

/**
 * Headers of the response to the caller: the function's own (minus hop-by-hop), then the
 * gateway's stamps, which win over a function trying to set them.
 */
export function callerResponseHeaders(
  fromFunction: Record<string, string> | undefined,
  stamp: InvokeStamp,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (fromFunction) {
    for (const key in fromFunction) {
      const lower = key.toLowerCase();
      if (!HOP_BY_HOP.has(lower)) out[lower] = fromFunction[key]!;
    }
  }
  out['x-call-id'] = stamp.callId;
  out['x-start-time'] = stamp.startNs;
  // OpenFaaS formats with Go's %f: six decimals.
  out['x-duration-seconds'] = stamp.durationSeconds.toFixed(6);
  if (stamp.start) out['x-floe-start'] = stamp.start;
  return out;
}
