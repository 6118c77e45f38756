import type { RuntimeName } from './function.js';

/** What an agent publishes about itself in Redis (key `floe:agents:<id>`, with a TTL). */
export interface AgentInfo {
  id: string;
  /** host:port of its RPC (Nest TCP) listener. */
  rpc: string;
  /** host:port of its invoke fast path (FrameRpcServer); absent: invoke goes over `rpc`. */
  invoke?: string;
  /** host:port of its HTTP /metrics and /healthz listener. */
  http: string;
  labels: Record<string, string>;
  capacity: { memoryBytes: number; cpus: number };
  free: { memoryBytes: number };
  /** Frozen stemcells ready per runtime. */
  stemcells: Partial<Record<RuntimeName, number>>;
  /**
   * Instances per function key (`ns/name`): total, idle (warm, frozen or not), and ready (done
   * specializing: what OpenFaaS clients count as available; absent from older agents).
   */
  functions: Record<string, { instances: number; idle: number; inflight: number; ready?: number }>;
  startedAt: number;
  heartbeatAt: number;
}

export interface PoolTarget {
  /** Stemcells to keep per runtime on this agent. */
  stemcells: Partial<Record<RuntimeName, number>>;
}
