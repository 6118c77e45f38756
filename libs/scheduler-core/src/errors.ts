import { FloeError } from '@floe/contracts';

export class UnavailableError extends FloeError {
  constructor(message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('UNAVAILABLE', message, opts);
  }
}

/** No capacity; `retryAfterSeconds` becomes the gateway's Retry-After header. */
export class ResourceExhaustedError extends FloeError {
  constructor(message: string, retryAfterSeconds: number, details: Record<string, unknown> = {}) {
    super('RESOURCE_EXHAUSTED', message, { details: { ...details, retryAfterSeconds } });
  }
}

/**
 * Runs a Redis operation, turning connection failures into UNAVAILABLE naming the
 * operation. FloeErrors thrown inside pass through untouched.
 */
export async function redisOp<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof FloeError) throw err;
    throw new UnavailableError(`${what}: redis unavailable: ${(err as Error).message}`, { cause: err });
  }
}
