import type { AgentInvokeRequest, AgentInvokeWire } from '../agent-rpc.js';
import { versionRef } from '../agent-rpc.js';
import { FloeError } from '../errors.js';
import type { InvokeResponse } from '../invoke.js';
import { AgentPatterns } from '../patterns.js';
import type { FrameRpcClient } from './frame-rpc-client.js';

/** Refs remembered per agent before the set starts over (a miss only costs one resend). */
const MAX_SENT = 4096;

/**
 * The caller's end of an agent's invoke fast path. A FunctionVersion is ~0.7 KB of JSON to
 * encode, send and parse on every call, about a fifth of a warm call's cost here; so only
 * the first call of a version carries it whole, and later ones name it by ref (AgentInvokeWire).
 */
export class AgentInvokeClient {
  private readonly sent = new Set<string>();

  constructor(private readonly rpc: FrameRpcClient) {}

  get where(): string {
    return this.rpc.where;
  }

  async invoke(req: AgentInvokeRequest, timeoutMs: number): Promise<InvokeResponse> {
    const ref = versionRef(req.version);
    if (this.sent.has(ref)) {
      try {
        return await this.rpc.call<InvokeResponse>(
          AgentPatterns.invoke,
          { request: req.request, ref },
          timeoutMs,
        );
      } catch (err) {
        if (!isVersionUnknown(err)) throw err;
        this.sent.delete(ref); // the agent restarted or evicted it: send it whole once more
      }
    }
    // Counted as sent once written: the agent caches it before invoking, even if the call fails.
    if (this.sent.size >= MAX_SENT) this.sent.clear();
    this.sent.add(ref);
    const whole: AgentInvokeWire = { request: req.request, version: req.version, ref };
    return this.rpc.call<InvokeResponse>(AgentPatterns.invoke, whole, timeoutMs);
  }

  close(): void {
    this.rpc.close();
  }
}

export function isVersionUnknown(err: unknown): boolean {
  return (
    err instanceof FloeError &&
    err.code === 'FAILED_PRECONDITION' &&
    typeof err.details.versionUnknown === 'string'
  );
}
