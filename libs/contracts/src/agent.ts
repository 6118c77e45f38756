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
  /** Instances per function key (`ns/name`): total and idle (warm, frozen or not). */
  functions: Record<string, { instances: number; idle: number; inflight: number }>;
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

export interface PoolTarget {
  /** Stemcells to keep per runtime on this agent. */
  stemcells: Partial<Record<RuntimeName, number>>;
}
