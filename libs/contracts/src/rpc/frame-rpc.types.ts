import type { SerializedError } from '../errors.js';

/** A call: id (per connection), pattern, payload. */
export interface RpcRequest {
  i: number;
  p: string;
  d: unknown;
}

/** Its answer: a result or a SerializedError. */
export interface RpcReply {
  i: number;
  r?: unknown;
  e?: SerializedError;
}
