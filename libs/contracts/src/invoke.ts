/** How an instance was obtained for a call; users and dashboards ask for it. */
export type StartKind = 'warm' | 'prewarm' | 'cold';

/**
 * One HTTP call to a function, as it crosses gateway → scheduler → agent → instance.
 * The body travels base64-encoded so it stays binary-safe over JSON transports.
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
  body: string;
  /** Absolute deadline in epoch ms; the agent kills the instance past it. */
  deadline?: number;
}

export interface InvokeResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  start: StartKind;
  /** Time spent inside the function, ms. */
  functionMs: number;
  /** Time spent in the agent for this call (thaw or start, call, response), ms. */
  agentMs?: number;
  agentId: string;
  instanceId: string;
}

export interface AsyncCall {
  callId: string;
  request: InvokeRequest;
  callbackUrl?: string;
  attempts: number;
  enqueuedAt: number;
}
