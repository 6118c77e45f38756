import type {
  AgentEnsureRequest,
  AgentInfo,
  AgentInvokeRequest,
  AgentLogsRequest,
  AgentLogsResponse,
  AgentPullEvent,
  AgentPullRequest,
  AgentRetireRequest,
  DepsBuildRequest,
  DepsBuildResult,
  InvokeResponse,
  PoolTarget,
} from '@floe/contracts';

/**
 * The scheduler's view of one node-agent's RPC (AgentPatterns). Implementations reject
 * with a FloeError: the agent's own error revived (RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED,
 * FUNCTION_FAILED...) or UNAVAILABLE with `details.connection: true` when the agent could
 * not be reached or did not answer in time; only those are retried on another agent.
 */
export interface AgentClient {
  invoke(req: AgentInvokeRequest, timeoutMs: number): Promise<InvokeResponse>;
  ensure(req: AgentEnsureRequest): Promise<void>;
  retire(req: AgentRetireRequest): Promise<void>;
  target(req: PoolTarget): Promise<void>;
  logs(req: AgentLogsRequest): Promise<AgentLogsResponse>;
  status(): Promise<AgentInfo>;
  /**
   * agent.pull: `onEvent` sees each streamed event; resolves when the stream ends, rejects
   * with the agent's error, or UNAVAILABLE after `idleMs` without an event.
   */
  pull?(req: AgentPullRequest, onEvent: (e: AgentPullEvent) => void, idleMs: number): Promise<void>;
  /** agent.deps.build: a dependencies install may take minutes, hence its own timeout. */
  depsBuild(req: DepsBuildRequest, timeoutMs: number): Promise<DepsBuildResult>;
}

/** Hands out one cached client per agent (by id and rpc address); `drop` closes it. */
export interface AgentClientFactory {
  get(agent: AgentInfo): AgentClient;
  drop(agentId: string): void;
  closeAll(): void;
}
