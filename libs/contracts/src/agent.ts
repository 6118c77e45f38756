import type { RuntimeName } from './function.js';

/** What an agent publishes about itself in Redis (key `floe:agents:<id>`, with a TTL). */
export interface AgentInfo {
  id: string;
  /** host:port of its RPC (Nest TCP) listener. */
  rpc: string;
  /** host:port of its invoke fast path (FrameRpcServer); absent: invoke goes over `rpc`. */
  invoke?: string;
  /**
   * Its invoke fast path's unix socket (mode 0600, the loopback HMAC handshake), for peers on
   * the same host: used when `invoke` is a loopback address, which only this host reaches.
   */
  invokeSocket?: string;
  /** host:port of its HTTP /metrics and /healthz listener. */
  http: string;
  labels: Record<string, string>;
  capacity: { memoryBytes: number; cpus: number };
  /** Capacity minus memory admitted (a frozen instance counts at its measured usage). */
  free: { memoryBytes: number };
  /**
   * Admitted memory held by instances that are not busy (idle, frozen, stemcells): what
   * evicting them could give back. Placement sends a call here once no agent has room
   * without evicting. Absent from older agents: nothing evictable.
   */
  evictable?: { memoryBytes: number };
  /** Frozen stemcells ready per runtime. */
  stemcells: Partial<Record<RuntimeName, number>>;
  /**
   * Instances per function key (`ns/name`): total, idle (warm, frozen or not), and ready (done
   * specializing: what OpenFaaS clients count as available; absent from older agents).
   */
  functions: Record<string, { instances: number; idle: number; inflight: number; ready?: number }>;
  startedAt: number;
  heartbeatAt: number;
  /** Images in its layer store and pulls in progress (GET /floe/images). */
  images?: AgentImage[];
}

/** An image on an agent, or being pulled there. */
export interface AgentImage {
  refs: string[];
  /** Manifest digest; for a pull in progress, the ref being pulled. */
  digest: string;
  /** Bytes of its layers on disk (du). */
  size: number;
  state: 'present' | 'pulling';
}

/**
 * An AgentInfo as a heartbeat carries it: with `functionsRev` instead of `functions`, whose map
 * sits in its own key (`agentFunctions`), rewritten only when it changed, so a beat stays small
 * however many functions the agent holds. An agent may still send `functions` inline.
 */
export type AgentHeartbeat = Omit<AgentInfo, 'functions'> & {
  functions?: AgentInfo['functions'];
  functionsRev?: number;
};

export interface PoolTarget {
  /** Stemcells to keep per runtime on this agent. */
  stemcells: Partial<Record<RuntimeName, number>>;
}
