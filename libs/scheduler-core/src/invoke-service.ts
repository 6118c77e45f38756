import {
  type AgentInfo,
  checkApiKey,
  type DirectCallStats,
  FloeError,
  type FunctionVersion,
  type InvokeRequest,
  type InvokeResponse,
  NotFoundError,
  type Placement,
  type PlacementAgent,
  type PlaceRequest,
} from '@floe/contracts';
import type { AgentClientFactory } from './agent-client.js';
import type { AgentDirectory } from './agent-directory.js';
import { ResourceExhaustedError } from './errors.js';
import type { FunctionCache } from './function-cache.js';
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
/** How long the gateway keeps a placement: about a heartbeat, so scale-out shows up in it. */
const PLACEMENT_TTL_MS = 1000;
/** With no warm instance the gateway asks again soon: the call it sends here starts one. */
const EMPTY_PLACEMENT_TTL_MS = 100;

/**
 * The invocation hot path: cached version, in-memory placement and in-flight counts, one
 * agent RPC. No Redis round trip unless the function is not cached yet.
 */
export class InvokeService {
  /** Per function, the calls waiting for capacity, oldest first. */
  private readonly waiters = new Map<string, (() => void)[]>();
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
    const busy = request.busy;
    delete request.busy;
    return this.place(version, request, busy);
  }

  /**
   * fn.place, the direct route's placement (contracts direct-route.ts): the agents with warm
   * instances of the function and their slots, from their heartbeats. No call is made here.
   */
  async placement(req: PlaceRequest): Promise<Placement> {
    const entry =
      this.cache.get(req.namespace, req.function) ?? (await this.cache.load(req.namespace, req.function));
    if (!entry) throw new NotFoundError(`place ${req.namespace}/${req.function}: function not found`);
    const version = entry.version;
    const key = fnKey(version.namespace, version.name);
    const agents: PlacementAgent[] = [];
    let instances = 0;
    const all = this.directory.agents();
    for (const a of all) {
      const f = a.functions[key];
      instances += f?.instances ?? 0;
      if (f && f.instances > 0 && a.invoke)
        agents.push({
          id: a.id,
          invoke: a.invoke,
          ...(a.invokeSocket ? { socket: a.invokeSocket } : {}),
          slots: f.instances * Math.max(1, version.maxConcurrency),
        });
    }
    const start = agents.length === 0 ? this.startOn(version, all) : undefined;
    // A placement handed to a gateway's direct route serves its calls for ttlMs: counted, so
    // the placements panel keeps moving while calls bypass the scheduler.
    metrics.placements.inc({ result: agents.length ? 'direct' : start ? 'direct_start' : 'direct_none' });
    return {
      version,
      agents,
      ...(start ? { start } : {}),
      mayGrow: instances < version.maxScale,
      ttlMs: agents.length ? PLACEMENT_TTL_MS : EMPTY_PLACEMENT_TTL_MS,
      agentTimeoutMs: this.settings.agentTimeoutMs,
      queueWaitMs: this.settings.queueWaitMs,
    };
  }

  /**
   * The one agent, if it may start an instance of `version` (room, max scale): the direct
   * route's cold start. With more agents, where to start is this replica's choice per call.
   */
  private startOn(version: FunctionVersion, all: AgentInfo[]): PlacementAgent | undefined {
    if (all.length !== 1) return undefined;
    const key = fnKey(version.namespace, version.name);
    const [best] = rankAgents(version, all, (id) => this.tracker.on(key, id));
    const a = best?.agent;
    if (!a?.invoke || best?.tier === 'warm') return undefined;
    return { id: a.id, invoke: a.invoke, ...(a.invokeSocket ? { socket: a.invokeSocket } : {}), slots: 0 };
  }

  /** fn.direct: the direct route's calls count as this replica's (fn.list, idle scale-in). */
  recordDirect(stats: DirectCallStats): void {
    for (const [k, s] of Object.entries(stats?.calls ?? {})) {
      const [ns, name] = k.split('/');
      if (!ns || !name || !(s.count > 0)) continue;
      this.tracker.record(fnKey(ns, name), s.count, s.last);
    }
  }

  private async place(
    version: FunctionVersion,
    request: InvokeRequest,
    directBusy?: Record<string, number>,
  ): Promise<InvokeResponse> {
    const key = fnKey(version.namespace, version.name);
    // The gateway's direct calls in flight, as it counted them when it sent this one: they
    // hold slots this replica never saw. Only for the first ranking: they end unannounced.
    let busy = directBusy;
    const queueDeadline = Date.now() + this.settings.queueWaitMs;
    const skip = new Set<string>();
    let unavailable: unknown;
    let waited = false;
    for (;;) {
      const agents = this.directory.agents().filter((a) => !skip.has(a.id));
      const [best] = rankAgents(version, agents, (id) => this.tracker.on(key, id) + (busy?.[id] ?? 0));
      busy = undefined;
      // First come, first served: a new call queues behind calls already waiting for this
      // function, or under a steady flood some waiter loses every race for a freed slot.
      const behind = !waited && (this.waiters.get(key)?.length ?? 0) > 0;
      if (!best || behind) {
        // Every agent left was found dead: say so, rather than wait and report "full".
        if (!best && unavailable) throw unavailable;
        // A slot is free but owed to an earlier waiter: make sure that one is awake.
        if (behind && best) this.wake(key);
        await this.waitForCapacity(key, queueDeadline, version, waited);
        waited = true;
        // Agents that were full may have room now.
        skip.clear();
        continue;
      }
      // Placed: if more calls wait, the next one may fit too; it re-queues at the front if not.
      if (waited) this.wake(key);
      const id = best.agent.id;
      this.tracker.acquire(key, id);
      try {
        const timeout = Math.max(0, (request.deadline ?? 0) - Date.now()) + this.settings.agentTimeoutMs;
        const res = await this.clients.get(best.agent).invoke({ request, version }, timeout);
        // The next fn.place hands this agent to the direct route, not a heartbeat later.
        this.directory.noteInstance(id, key);
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

  /** Waits for a wake-up or a re-check; a call that waited before keeps its place at the front. */
  private async waitForCapacity(
    key: string,
    deadline: number,
    version: FunctionVersion,
    front: boolean,
  ): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0 || (!front && this.queued >= this.settings.queueMax)) {
      metrics.placements.inc({ result: 'exhausted' });
      throw new ResourceExhaustedError(
        `invoke ${key}: no capacity (max scale ${version.maxScale}, ${this.directory.agents().length} agents)`,
        Math.max(1, Math.ceil(this.settings.queueWaitMs / 1000)),
      );
    }
    this.queued++;
    this.tracker.setWaiting(key, this.tracker.waitingFor(key) + 1);
    metrics.queueDepth.set(this.queued);
    const waiters = this.waiters.get(key) ?? [];
    this.waiters.set(key, waiters);
    let resolve!: () => void;
    const woken = new Promise<void>((r) => {
      resolve = r;
    });
    if (front) waiters.unshift(resolve);
    else waiters.push(resolve);
    const timer = setTimeout(resolve, Math.min(left, QUEUE_RECHECK_MS));
    try {
      await woken;
    } finally {
      clearTimeout(timer);
      const at = waiters.indexOf(resolve);
      if (at >= 0) waiters.splice(at, 1);
      if (waiters.length === 0 && this.waiters.get(key) === waiters) this.waiters.delete(key);
      this.queued--;
      this.tracker.setWaiting(key, this.tracker.waitingFor(key) - 1);
      metrics.queueDepth.set(this.queued);
    }
  }

  /** The longest-waiting call of `key` retries placement: a call just finished and freed a slot. */
  private wake(key: string): void {
    this.waiters.get(key)?.shift()?.();
  }
}
