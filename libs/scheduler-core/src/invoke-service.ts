import {
  FloeError,
  type FunctionVersion,
  type InvokeRequest,
  type InvokeResponse,
  NotFoundError,
} from '@floe/contracts';
import type { AgentClientFactory } from './agent-client.js';
import type { AgentDirectory } from './agent-directory.js';
import { ResourceExhaustedError } from './errors.js';
import type { FunctionCache } from './function-cache.js';
import { sha256 } from './function-version.js';
import { fnKey } from './keys.js';
import type { LoadTracker } from './load-tracker.js';
import { metrics } from './metrics.js';
import { rankAgents } from './placement.js';

export interface InvokeSettings {
  /** How long a call waits for capacity before RESOURCE_EXHAUSTED. */
  queueWaitMs: number;
  /** Calls allowed to wait at once, over all functions; beyond, RESOURCE_EXHAUSTED at once. */
  queueMax: number;
  /** Added to the function's timeout for the agent RPC, covering a cold start and transport. */
  agentTimeoutMs: number;
}

/** Re-check placement this often while queued even without a wake-up (heartbeats bring capacity). */
const QUEUE_RECHECK_MS = 100;

/**
 * The invocation hot path: cached version, in-memory placement and in-flight counts, one
 * agent RPC. No Redis round trip unless the function is not cached yet.
 */
export class InvokeService {
  private readonly waiters = new Map<string, Set<() => void>>();
  private queued = 0;

  constructor(
    private readonly cache: FunctionCache,
    private readonly directory: AgentDirectory,
    private readonly clients: AgentClientFactory,
    private readonly tracker: LoadTracker,
    private readonly settings: InvokeSettings,
  ) {}

  async invoke(req: InvokeRequest): Promise<InvokeResponse> {
    const entry =
      this.cache.get(req.namespace, req.function) ?? (await this.cache.load(req.namespace, req.function));
    if (!entry) {
      metrics.placements.inc({ result: 'not_found' });
      throw new NotFoundError(`invoke ${req.namespace}/${req.function}: function not found`);
    }
    const version = entry.version;
    const request = checkApiKey(version, req);
    request.deadline ??= Date.now() + version.timeoutMs;
    return this.place(version, request);
  }

  private async place(version: FunctionVersion, request: InvokeRequest): Promise<InvokeResponse> {
    const key = fnKey(version.namespace, version.name);
    const queueDeadline = Date.now() + this.settings.queueWaitMs;
    const skip = new Set<string>();
    let unavailable: unknown;
    for (;;) {
      const agents = this.directory.agents().filter((a) => !skip.has(a.id));
      const [best] = rankAgents(version, agents, (id) => this.tracker.on(key, id));
      if (!best) {
        // Every agent left was found dead: say so, rather than wait and report "full".
        if (unavailable) throw unavailable;
        await this.waitForCapacity(key, queueDeadline, version);
        // Agents that were full may have room now.
        skip.clear();
        continue;
      }
      const id = best.agent.id;
      this.tracker.acquire(key, id);
      try {
        const timeout = Math.max(0, (request.deadline ?? 0) - Date.now()) + this.settings.agentTimeoutMs;
        const res = await this.clients.get(best.agent).invoke({ request, version }, timeout);
        metrics.placements.inc({ result: best.tier });
        return res;
      } catch (err) {
        const code = err instanceof FloeError ? err.code : undefined;
        if (code === 'UNAVAILABLE') {
          // A dead or departing agent: out of placement until it beats again; one retry elsewhere.
          this.directory.suspend(id);
          if (unavailable) throw err;
          unavailable = err;
          skip.add(id);
          metrics.placements.inc({ result: 'retried' });
          continue;
        }
        if (code === 'RESOURCE_EXHAUSTED' && Date.now() < queueDeadline) {
          skip.add(id);
          continue;
        }
        throw err;
      } finally {
        this.tracker.release(key, id);
        this.wake(key);
      }
    }
  }

  private async waitForCapacity(key: string, deadline: number, version: FunctionVersion): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0 || this.queued >= this.settings.queueMax) {
      metrics.placements.inc({ result: 'exhausted' });
      throw new ResourceExhaustedError(
        `invoke ${key}: no capacity (max scale ${version.maxScale}, ${this.directory.agents().length} agents)`,
        Math.max(1, Math.ceil(this.settings.queueWaitMs / 1000)),
      );
    }
    this.queued++;
    this.tracker.setWaiting(key, this.tracker.waitingFor(key) + 1);
    metrics.queueDepth.set(this.queued);
    const waiters = this.waiters.get(key) ?? new Set<() => void>();
    this.waiters.set(key, waiters);
    let resolve!: () => void;
    const woken = new Promise<void>((r) => {
      resolve = r;
    });
    waiters.add(resolve);
    const timer = setTimeout(resolve, Math.min(left, QUEUE_RECHECK_MS));
    try {
      await woken;
    } finally {
      clearTimeout(timer);
      waiters.delete(resolve);
      if (waiters.size === 0) this.waiters.delete(key);
      this.queued--;
      this.tracker.setWaiting(key, this.tracker.waitingFor(key) - 1);
      metrics.queueDepth.set(this.queued);
    }
  }

  /** One waiter of `key` retries placement: a call just finished and freed a slot. */
  private wake(key: string): void {
    const set = this.waiters.get(key);
    if (!set) return;
    const [first] = set;
    if (first) {
      set.delete(first);
      first();
    }
  }
}

/**
 * Enforces the `com.floe.api-key` annotation (stored hashed) and strips the key so the
 * function never sees it. 401 without a key, 403 with a wrong one.
 */
function checkApiKey(version: FunctionVersion, req: InvokeRequest): InvokeRequest {
  if (!version.apiKeyHash) return { ...req };
  const name = Object.keys(req.headers).find((h) => h.toLowerCase() === 'x-api-key');
  const what = `invoke ${version.namespace}/${version.name}`;
  if (!name) {
    throw new FloeError('FAILED_PRECONDITION', `${what}: missing X-Api-Key`, {
      fault: 'user',
      details: { httpStatus: 401 },
    });
  }
  if (sha256(req.headers[name] ?? '') !== version.apiKeyHash) {
    throw new FloeError('FAILED_PRECONDITION', `${what}: wrong X-Api-Key`, {
      fault: 'user',
      details: { httpStatus: 403 },
    });
  }
  const headers = { ...req.headers };
  delete headers[name];
  return { ...req, headers };
}
