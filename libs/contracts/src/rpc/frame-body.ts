/**
 * Where a payload's bytes ride: a call or answer of the frame RPC may hold one Buffer, in a
 * `body` field at its top level (InvokeResponse) or in its `request` (InvokeRequest inside
 * agent.invoke or async.enqueue). That Buffer leaves the JSON header and travels as the
 * frame's body, as is: no base64, no JSON escaping, one copy into the frame. The header's `b`
 * says where to put it back.
 */
export type BodyAt = 'body' | 'request.body';

const EMPTY = Buffer.alloc(0);

/** Splits `v` into what goes in the header, the bytes, and where they belong. */
export function liftBody(v: unknown): { d: unknown; body: Buffer; b?: BodyAt } {
  if (typeof v !== 'object' || v === null) return { d: v, body: EMPTY };
  const o = v as Record<string, unknown>;
  if (Buffer.isBuffer(o.body)) return { d: { ...o, body: undefined }, body: o.body, b: 'body' };
  const r = o.request as Record<string, unknown> | undefined;
  if (typeof r === 'object' && r !== null && Buffer.isBuffer(r.body))
    return { d: { ...o, request: { ...r, body: undefined } }, body: r.body, b: 'request.body' };
  return { d: v, body: EMPTY };
}

/** Puts the frame's body back where `b` says (see liftBody). */
export function restoreBody(d: unknown, body: Buffer, b: BodyAt | undefined): unknown {
  if (!b || typeof d !== 'object' || d === null) return d;
  const o = d as Record<string, unknown>;
  if (b === 'body') o.body = body;
  else if (typeof o.request === 'object' && o.request !== null)
    (o.request as Record<string, unknown>).body = body;
  return d;
}
