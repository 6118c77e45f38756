/**
 * Go clients of the OpenFaaS API (faas-cli's SDK, openfaas/go-sdk, controllers) encode an unset
 * map, slice or pointer as JSON `null`. To them `null` means "not given", so the API reads it as
 * an absent field: `withoutNulls` returns a shallow copy of `body` without its `null` members,
 * and does the same one level down for the members named in `nested` (`limits`, `requests`).
 * Anything that is not a plain object is returned as it is, for the validator to name.
 */
export function withoutNulls(body: unknown, nested: readonly string[] = []): unknown {
  if (!isPlainObject(body)) return body;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v === null) continue;
    out[k] = nested.includes(k) ? withoutNulls(v) : v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}
