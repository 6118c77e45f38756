/**
 * Payloads of the AgentPatterns calls the scheduler makes, so that scheduler and node-agent
 * code against one shape. Errors cross as SerializedError (revive with `reviveError`):
 * RESOURCE_EXHAUSTED when the agent is full, DEADLINE_EXCEEDED on a function timeout,
 * FUNCTION_FAILED for a crash or OOM kill, UNAVAILABLE when the agent is going away.
 */
import type { FunctionVersion } from './function.js';
import type { InvokeRequest } from './invoke.js';

/** agent.invoke; answers InvokeResponse. */
export interface AgentInvokeRequest {
  request: InvokeRequest;
  version: FunctionVersion;
}

/**
 * agent.invoke as the fast path carries it (AgentInvokeClient → the agent's VersionCache):
 * the whole version on the first call of it, then only its `ref`. An agent that lacks the
 * ref answers FAILED_PRECONDITION with `details.versionUnknown`, and the call is resent whole.
 */
export interface AgentInvokeWire {
  request: InvokeRequest;
  version?: FunctionVersion;
  ref?: string;
}

/**
 * Names one deployed version. Versions are immutable; `createdAt` tells apart a version
 * number reused after the function was deleted and deployed again.
 */
export function versionRef(v: Pick<FunctionVersion, 'namespace' | 'name' | 'version' | 'createdAt'>): string {
  return `${v.namespace}/${v.name}@${v.version}@${v.createdAt}`;
}

/**
 * agent.ensure: keep at least `instances` instances of this version on the agent (a target
 * count for that agent, not an increment), pre-warmed and frozen. Idempotent.
 */
export interface AgentEnsureRequest {
  version: FunctionVersion;
  instances: number;
  /**
   * Of `instances`, how many the function's floor needs (min scale, fn.scale's replicas):
   * those start regardless. Past it, the count is demand, which the agent meets only while its
   * calls wait for a busy instance longer than a start would take. Absent: all are floor.
   */
  floor?: number;
}

/**
 * agent.retire: destroy the function's instances, all of them or those not of `keepVersion`;
 * with `keep`, only the surplus over `keep` that has had no call for `idleMs` (scale-in).
 */
export interface AgentRetireRequest {
  namespace: string;
  name: string;
  keepVersion?: number;
  keep?: number;
  idleMs?: number;
}

/** agent.logs; answers AgentLogsResponse. */
export interface AgentLogsRequest {
  namespace: string;
  name: string;
  tail?: number;
  /** RFC 3339; only lines strictly after it. */
  since?: string;
}

/** One log line as an agent stores it (the gateway-facing LogLine is built from it). */
export interface AgentLogLine {
  ts: string;
  instance: string;
  stream: 'stdout' | 'stderr';
  text: string;
  function: string;
  namespace: string;
}

export interface AgentLogsResponse {
  lines: AgentLogLine[];
}

/**
 * agent.deps.build: make sure the agent holds the dependencies layer `key` (runtime + hash of
 * the lockfile), installing it in a build sandbox from `files` (package.json and its lockfile,
 * or requirements.txt) if missing. With `buildId`, installer output is appended to Redis
 * `buildLog(buildId)` as it comes. A failed install answers FAILED_PRECONDITION with
 * `details.httpStatus` 422 and the installer's last lines, and leaves no layer.
 */
export interface DepsBuildRequest {
  runtime: 'node' | 'python';
  key: string;
  files: Record<string, string>;
  buildId?: string;
}

export interface DepsBuildResult {
  key: string;
  /** True when the layer was already there: nothing was installed. */
  cached: boolean;
}
