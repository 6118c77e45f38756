import { createHash } from 'node:crypto';
import { FloeError } from './errors.js';
import type { FunctionVersion } from './function.js';
import type { InvokeRequest } from './invoke.js';

/**
 * Enforces the `com.floe.api-key` annotation (stored hashed) and strips the key so the
 * function never sees it: 401 without a key, 403 with a wrong one. Whoever sends a call to
 * an agent checks it first, the scheduler or the gateway on the direct route.
 */
export function checkApiKey(version: FunctionVersion, req: InvokeRequest): InvokeRequest {
  if (!version.apiKeyHash) return { ...req };
  const name = Object.keys(req.headers).find((h) => h.toLowerCase() === 'x-api-key');
  const what = `invoke ${version.namespace}/${version.name}`;
  if (!name) {
    throw new FloeError('FAILED_PRECONDITION', `${what}: missing X-Api-Key`, {
      fault: 'user',
      details: { httpStatus: 401 },
    });
  }
  const hash = createHash('sha256')
    .update(req.headers[name] ?? '')
    .digest('hex');
  if (hash !== version.apiKeyHash) {
    throw new FloeError('FAILED_PRECONDITION', `${what}: wrong X-Api-Key`, {
      fault: 'user',
      details: { httpStatus: 403 },
    });
  }
  const headers = { ...req.headers };
  delete headers[name];
  return { ...req, headers };
}
