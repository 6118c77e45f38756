import type { SerializedError } from '../errors.js';
import type { BodyAt } from './frame-body.js';

/** A call: id (per connection), pattern, payload; `b`: where the frame's body goes (frame-body.ts). */
export interface RpcRequest {
  i: number;
  p: string;
  d: unknown;
  b?: BodyAt;
}

/** Its answer: a result or a SerializedError; `b` as in RpcRequest. */
export interface RpcReply {
  i: number;
  r?: unknown;
  e?: SerializedError;
  b?: BodyAt;
}
