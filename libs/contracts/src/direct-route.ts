/**
 * The direct route: the gateway calls an agent's invoke fast path itself, with a placement
 * the scheduler hands out (fn.place) and the gateway caches for `ttlMs`. The scheduler stays
 * out of each call; it sees the route's load in the agents' heartbeats (`inflight` per
 * function) and in the counts the gateway flushes (fn.direct), and it still takes every call
 * the route can't: no warm instance, all slots busy while the function may grow, a dead agent.
 */
import { accessSync, constants } from 'node:fs';
import type { FunctionVersion } from './function.js';
import { isLoopback } from './pki/loopback-auth.js';
import type { FrameRpcAddress } from './rpc/frame-rpc-client.js';

/** fn.place: where calls of this function may go now. */
export interface PlaceRequest {
  namespace: string;
  function: string;
}

/** An agent with warm instances of the function, and how many calls they take at once. */
export interface PlacementAgent {
  id: string;
  /** host:port of its invoke fast path. */
  invoke: string;
  /** Its AgentInfo's `invokeSocket`: on this host, the cheaper door to the same listener. */
  socket?: string;
  /** instances × maxConcurrency, as its last heartbeat reported them. */
  slots: number;
}

export interface Placement {
  version: FunctionVersion;
  /** Empty: no warm instance anywhere; calls go to `start`, or through the scheduler, which starts one. */
  agents: PlacementAgent[];
  /**
   * With no warm instance and one agent that has room for one (slots 0): calls go there and
   * its pool starts one, queues and scales out within max scale, as the scheduler would have
   * it do, less a hop through the scheduler on every cold start. With several agents the
   * scheduler chooses where an instance starts, so this is left out.
   */
  start?: PlacementAgent;
  /** Fewer instances than maxScale: a call over the slots goes to the scheduler, which scales out. */
  mayGrow: boolean;
  /** How long the gateway may use this answer before asking again. */
  ttlMs: number;
  /** Added to the function's timeout for the agent call (a cold start and transport). */
  agentTimeoutMs: number;
  /** How long a call over the slots of a function at max scale waits before a 429. */
  queueWaitMs: number;
}

/** fn.direct: calls the gateway made on the direct route since its last flush, per `ns/name`. */
export interface DirectCallStats {
  calls: Record<string, { count: number; last: number }>;
}

/** `host:port` (an AgentInfo's `invoke`) as a dial address; IPv6 hosts keep their colons. */
export function parseHostPort(hostPort: string): { host: string; port: number } {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(hostPort);
  return { host: m?.[1] || '127.0.0.1', port: Number(m?.[2] ?? 0) };
}

/**
 * Where to dial an agent's invoke fast path: its unix socket when it advertises a loopback
 * `invoke` (so it runs on this host) and this process may open the socket; else `invoke`.
 * Called once per client, not per call.
 */
export function invokeDialAddress(invoke: string, socket?: string): FrameRpcAddress {
  const hostPort = parseHostPort(invoke);
  if (!socket || !isLoopback(hostPort.host)) return hostPort;
  try {
    accessSync(socket, constants.R_OK | constants.W_OK);
    return { path: socket };
  } catch {
    return hostPort; // another mount namespace, or not ours to open
  }
}

/** sun_path holds 108 bytes with the NUL. */
const MAX_SOCKET_PATH = 107;

/**
 * The unix socket an agent serves its invoke fast path on besides its port: `invoke.sock`
 * in `dir`, when it advertises a loopback address (only peers on this host dial it, see
 * invokeDialAddress) and the path fits a socket address. Undefined: the port only.
 */
export function invokeSocketPath(dir: string, advertiseHost: string): string | undefined {
  const file = `${dir.replace(/\/+$/, '')}/invoke.sock`;
  return isLoopback(advertiseHost) && Buffer.byteLength(file) <= MAX_SOCKET_PATH ? file : undefined;
}
