/** How an instance was obtained for a call; users and dashboards ask for it. */
export type StartKind = 'warm' | 'prewarm' | 'cold';

/**
 * One HTTP call to a function, as it crosses gateway → (scheduler →) agent → instance.
 * The body is bytes: on the frame RPC it travels as the frame's body (rpc/frame-body.ts),
 * never base64 or JSON-escaped. Only the async queue's Redis entry stores it as base64.
 */
export interface InvokeRequest {
  callId: string;
  function: string;
  namespace: string;
  method: string;
  /** Path below the function, starting with '/'. */
  path: string;
  query: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Absolute deadline in epoch ms; the agent kills the instance past it. */
  deadline?: number;
  /**
   * From the gateway, when it hands the scheduler a call its direct route had no slot for:
   * its own direct calls in flight per agent id, which the scheduler's placement counts too.
   */
  busy?: Record<string, number>;
}

export interface InvokeResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  start: StartKind;
  /** Time spent inside the function, ms. */
  functionMs: number;
  /** Time spent in the agent for this call (thaw or start, call, response), ms. */
  agentMs?: number;
  agentId: string;
  instanceId: string;
}

/** An InvokeRequest as the async queue stores it in Redis (JSON): the body in base64. */
export type StoredInvokeRequest = Omit<InvokeRequest, 'body'> & { body: string };

/** For the queue's Redis entry; a body that is already a string (base64) stays as it is. */
export function storedRequest(req: InvokeRequest | StoredInvokeRequest): StoredInvokeRequest {
  const body: unknown = req.body;
  return {
    ...req,
    body: Buffer.isBuffer(body) ? body.toString('base64') : typeof body === 'string' ? body : '',
  };
}

/** Back to bytes, for the call the async worker makes. */
export function invokeRequestOf(stored: StoredInvokeRequest): InvokeRequest {
  return { ...stored, body: stored.body ? Buffer.from(stored.body, 'base64') : Buffer.alloc(0) };
}

export interface AsyncCall {
  callId: string;
  request: StoredInvokeRequest;
  callbackUrl?: string;
  attempts: number;
  enqueuedAt: number;
}
