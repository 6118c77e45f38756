import { checkApiKey } from '../api-key.js';
import type { DirectCallStats, Placement, PlacementAgent, PlaceRequest } from '../direct-route.js';
import { FloeError, NotFoundError } from '../errors.js';
import type { InvokeRequest, InvokeResponse } from '../invoke.js';
import type { AgentInvokeClient } from './agent-invoke-client.js';
import { RpcConnectionError, RpcTimeoutError } from './frame-rpc-client.js';

/**
 * Which way a call went: `direct`; `queued-at-agent`, direct past the slots of a function
 * that may grow and runs on one agent (which queues it and scales out); `start-at-agent`,
 * direct to the one agent with no warm instance, which starts one; or to the scheduler
 * because there was no placement (a scheduler that can't place), no warm instance, every slot
 * busy while the function may grow on several agents, or the agent was unreachable or refused
 * it (full, going away).
 */
export type InvokeRoute =
  | 'direct'
  | 'queued-at-agent'
  | 'start-at-agent'
  | 'no-placement'
  | 'no-warm-instance'
  | 'slots-busy'
  | 'agent-unreachable'
  | 'agent-refused';

export interface DirectInvokerDeps {
  /** fn.place on the scheduler. */
  place: (req: PlaceRequest) => Promise<Placement>;
  /** The scheduler's invoke: every call the direct route can't take goes there. */
  viaScheduler: (req: InvokeRequest, timeoutMs: number) => Promise<InvokeResponse>;
  /** fn.direct on the scheduler; a rejected flush is kept for the next. */
  report: (stats: DirectCallStats) => Promise<void>;
  /**
   * A client of the agent's invoke fast path at `host:port`, or at its unix socket `socket`
   * when given and usable (invokeDialAddress). Cached here, one per address.
   */
  agent: (address: string, socket?: string) => AgentInvokeClient;
  statsEveryMs?: number;
  /** An agent a call found unreachable is left out of placements this long. */
  deadAgentMs?: number;
  /** Told the way each call went (a metric). */
  onRoute?: (route: InvokeRoute) => void;
}

/** How long a placement the scheduler could not give is not asked for again. */
const FAILED_PLACEMENT_TTL_MS = 1000;

interface Cached {
  placement?: Placement;
  expires: number;
  asking?: Promise<Placement | undefined>;
}

/**
 * The gateway's end of the direct route (direct-route.ts): calls go from the gateway to the
 * agent, with the placement the scheduler handed out, and the scheduler is off the call.
 * Within an agent's slots (instances × maxConcurrency) calls go straight there, counted here;
 * past them, a function that may still grow goes to its agent if it has one (its pool queues
 * and scales out), else through the scheduler with these counts (`busy`), which starts an
 * instance; one at max scale waits here, first come first served, for a slot, up to the
 * queue wait, then RESOURCE_EXHAUSTED (429). A call an agent could not
 * take (unreachable, full) drops the placement, leaves that agent out, and goes through the
 * scheduler, which retries elsewhere. The agent's pool enforces each instance's concurrency
 * in any case, so several gateways sharing agents only queue there.
 */
export class DirectInvoker {
  private readonly placements = new Map<string, Cached>();
  private readonly inflight = new Map<string, Map<string, number>>();
  /** Per function, calls waiting for a slot, in arrival order (`ticket`). */
  private readonly waiters = new Map<string, { ticket: number; wake: () => void }[]>();
  private tickets = 0;
  private readonly clients = new Map<string, AgentInvokeClient>();
  private readonly dead = new Map<string, number>();
  private stats = new Map<string, { count: number; last: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly deps: DirectInvokerDeps) {
    this.timer = setInterval(() => void this.flush(), deps.statsEveryMs ?? 1000);
    this.timer.unref();
  }

  async invoke(req: InvokeRequest, timeoutMs: number): Promise<InvokeResponse> {
    const key = `${req.namespace}/${req.function}`;
    let p = await this.placement(key, req);
    if (!p) return this.viaScheduler(key, req, timeoutMs, 'no-placement');
    if (p.agents.length === 0) {
      // One agent and no warm instance: it starts one for this call itself (and queues the
      // calls behind it), which saves a cold start the hop through the scheduler.
      const start = p.start && this.alive(p.start);
      if (start) return this.direct(key, p, start, req, timeoutMs, 'start-at-agent');
      return this.viaScheduler(key, req, timeoutMs, 'no-warm-instance');
    }
    let agent = (this.waiters.get(key)?.length ?? 0) > 0 ? undefined : this.pick(key, p);
    if (!agent) {
      if (p.mayGrow) {
        // One agent runs every instance: its pool queues the call for the first free one and
        // starts another if the wait outlasts a start, within max scale, which is what the
        // scheduler would have it do, less a hop through one more process. At c=16 on a
        // one-slot function that hop carried 85% of the calls. With several agents the
        // scheduler chooses where to grow.
        const only = p.agents.length === 1 ? this.alive(p.agents[0] as PlacementAgent) : undefined;
        if (only) return this.direct(key, p, only, req, timeoutMs, 'queued-at-agent');
        return this.viaScheduler(key, req, timeoutMs, 'slots-busy');
      }
      const got = await this.waitForSlot(key, req, p);
      if (!got) return this.viaScheduler(key, req, timeoutMs, 'slots-busy');
      [p, agent] = got;
    }
    return this.direct(key, p, agent, req, timeoutMs);
  }

  /** Drops every cached placement: a function was deployed, updated, rolled back or removed. */
  forget(): void {
    this.placements.clear();
  }

  /** The calls this gateway has in flight on the direct route for `ns/name`, per agent. */
  busy(key: string): Record<string, number> {
    return Object.fromEntries(this.inflight.get(key) ?? []);
  }

  close(): void {
    clearInterval(this.timer);
    void this.flush();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private async direct(
    key: string,
    p: Placement,
    agent: PlacementAgent,
    req: InvokeRequest,
    timeoutMs: number,
    route: InvokeRoute = 'direct',
  ): Promise<InvokeResponse> {
    const request = checkApiKey(p.version, req);
    delete request.busy;
    request.deadline ??= Date.now() + p.version.timeoutMs;
    const timeout = Math.min(timeoutMs, Math.max(0, request.deadline - Date.now()) + p.agentTimeoutMs);
    this.acquire(key, agent.id);
    let fallback: InvokeRoute | undefined;
    try {
      const res = await this.client(agent).invoke({ request, version: p.version }, timeout);
      this.deps.onRoute?.(route);
      return res;
    } catch (err) {
      const code = err instanceof FloeError ? err.code : undefined;
      if (err instanceof RpcConnectionError || err instanceof RpcTimeoutError) {
        // Dead or hung: out of this gateway's placements until the scheduler sees it beat again.
        this.dead.set(agent.id, Date.now() + (this.deps.deadAgentMs ?? 3000));
        this.placements.delete(key);
        // A hung agent may have run the call: it is not run twice (the scheduler's route
        // doesn't retry a timeout either); a refused connection never reached it.
        if (err instanceof RpcTimeoutError) {
          this.deps.onRoute?.(route);
          throw err;
        }
        fallback = 'agent-unreachable';
      } else if (code === 'RESOURCE_EXHAUSTED' || code === 'UNAVAILABLE') {
        this.placements.delete(key);
        fallback = 'agent-refused';
      } else {
        this.deps.onRoute?.(route);
        throw err;
      }
    } finally {
      this.release(key, agent.id, fallback === undefined);
    }
    return this.viaScheduler(key, req, timeoutMs, fallback);
  }

  private viaScheduler(
    key: string,
    req: InvokeRequest,
    timeoutMs: number,
    why: InvokeRoute,
  ): Promise<InvokeResponse> {
    this.deps.onRoute?.(why);
    const busy = this.inflight.get(key);
    const res = this.deps.viaScheduler(busy?.size ? { ...req, busy: this.busy(key) } : req, timeoutMs);
    if (why !== 'no-warm-instance') return res;
    // The scheduler started an instance (or found one its heartbeat had not shown): the next
    // call asks where, and goes there, not through the scheduler for the rest of the empty
    // placement's TTL.
    return res.then((r) => {
      const c = this.placements.get(key);
      if (c?.placement?.agents.length === 0) c.expires = 0;
      return r;
    });
  }

  /** The cached placement, or a fresh one (one question per function at a time). */
  private async placement(key: string, req: InvokeRequest): Promise<Placement | undefined> {
    const now = Date.now();
    const c = this.placements.get(key);
    // A failed question is remembered as briefly: no second RPC per call while the scheduler is away.
    if (c && c.expires > now) return c.placement;
    // Expired less than a TTL ago, with agents: this call goes there while the question goes
    // out, so a function called every few hundred ms doesn't wait for fn.place once a second.
    // An agent that turns out dead drops the placement (direct), and the next call asks first.
    const stale = c?.placement;
    if (c && stale && stale.agents.length > 0 && now - c.expires < stale.ttlMs) {
      if (!c.asking)
        this.ask(c, req).catch(() => {
          if (this.placements.get(key) === c) this.placements.delete(key); // gone: the next call hears it
        });
      return stale;
    }
    if (c?.asking) return c.asking;
    const entry: Cached = c ?? { expires: 0 };
    this.placements.set(key, entry);
    return this.ask(entry, req);
  }

  /** Asks the scheduler for `entry`'s placement; rejects only with NOT_FOUND. */
  private ask(entry: Cached, req: InvokeRequest): Promise<Placement | undefined> {
    const asking = this.deps
      .place({ namespace: req.namespace, function: req.function })
      .then(
        (placement) => {
          entry.placement = placement;
          entry.expires = Date.now() + placement.ttlMs;
          return placement;
        },
        (err) => {
          // Not found is the caller's answer; anything else (a scheduler without fn.place,
          // one that is down) and the call goes the scheduler's way, which says what is wrong.
          if (err instanceof NotFoundError || (err as FloeError)?.code === 'NOT_FOUND') throw err;
          entry.placement = undefined;
          entry.expires = Date.now() + FAILED_PLACEMENT_TTL_MS;
          return undefined;
        },
      )
      .finally(() => {
        entry.asking = undefined;
      });
    entry.asking = asking;
    return asking;
  }

  /** `a`, unless a call found it unreachable within deadAgentMs. */
  private alive(a: PlacementAgent): PlacementAgent | undefined {
    const until = this.dead.get(a.id);
    if (until === undefined) return a;
    if (until > Date.now()) return undefined;
    this.dead.delete(a.id);
    return a;
  }

  /** The placed agent with the most free slots by this gateway's count, if any. */
  private pick(key: string, p: Placement): PlacementAgent | undefined {
    const counts = this.inflight.get(key);
    let best: PlacementAgent | undefined;
    let bestSpare = 0;
    for (const a of p.agents) {
      if (!this.alive(a)) continue;
      const spare = a.slots - (counts?.get(a.id) ?? 0);
      if (spare > bestSpare) {
        best = a;
        bestSpare = spare;
      }
    }
    return best;
  }

  /**
   * Every slot is busy and the function is at max scale: wait for one of this gateway's
   * calls to end (or the placement to change), up to the queue wait. Undefined: the
   * placement now says the function may grow, or has no agent: the scheduler's turn.
   */
  private async waitForSlot(
    key: string,
    req: InvokeRequest,
    first: Placement,
  ): Promise<[Placement, PlacementAgent] | undefined> {
    const until = Date.now() + first.queueWaitMs;
    const ticket = ++this.tickets;
    for (;;) {
      const left = until - Date.now();
      if (left <= 0)
        throw new FloeError(
          'RESOURCE_EXHAUSTED',
          `invoke ${key}: no capacity (max scale ${first.version.maxScale}, every slot busy)`,
          { details: { retryAfterSeconds: Math.max(1, Math.ceil(first.queueWaitMs / 1000)) } },
        );
      await this.sleepOrWake(key, Math.min(left, 100), ticket);
      const p = await this.placement(key, req);
      // A question the scheduler did not answer keeps the call queued here: leaving would hand
      // it to the scheduler, which then queues it behind the very calls it waited for.
      if (!p) continue;
      if (p.agents.length === 0) return undefined;
      const agent = this.pick(key, p);
      if (agent) {
        // A slot for this one; the next waiter may find one too.
        this.wake(key);
        return [p, agent];
      }
      if (p.mayGrow) return undefined;
    }
  }

  /** Waits `ms` or until woken; a call that waited before keeps its place by its ticket. */
  private sleepOrWake(key: string, ms: number, ticket: number): Promise<void> {
    return new Promise((resolve) => {
      const list = this.waiters.get(key) ?? [];
      this.waiters.set(key, list);
      const w = {
        ticket,
        wake: () => {
          clearTimeout(timer);
          const at = list.indexOf(w);
          if (at >= 0) list.splice(at, 1);
          if (list.length === 0 && this.waiters.get(key) === list) this.waiters.delete(key);
          resolve();
        },
      };
      const timer = setTimeout(w.wake, ms);
      let at = list.length;
      while (at > 0 && (list[at - 1]?.ticket ?? 0) > ticket) at--;
      list.splice(at, 0, w);
    });
  }

  private wake(key: string): void {
    this.waiters.get(key)?.[0]?.wake();
  }

  private acquire(key: string, agentId: string): void {
    const m = this.inflight.get(key) ?? new Map<string, number>();
    this.inflight.set(key, m);
    m.set(agentId, (m.get(agentId) ?? 0) + 1);
  }

  private release(key: string, agentId: string, counted: boolean): void {
    const m = this.inflight.get(key);
    const n = m?.get(agentId) ?? 0;
    if (n <= 1) m?.delete(agentId);
    else m?.set(agentId, n - 1);
    if (m && m.size === 0) this.inflight.delete(key);
    if (counted) {
      const s = this.stats.get(key);
      if (s) {
        s.count++;
        s.last = Date.now();
      } else this.stats.set(key, { count: 1, last: Date.now() });
    }
    this.wake(key);
  }

  /** One client per agent address: its socket, if any, is the same listener's other door. */
  private client(agent: PlacementAgent): AgentInvokeClient {
    let c = this.clients.get(agent.invoke);
    if (!c) {
      c = this.deps.agent(agent.invoke, agent.socket);
      this.clients.set(agent.invoke, c);
    }
    return c;
  }

  private async flush(): Promise<void> {
    if (this.stats.size === 0) return;
    const out = this.stats;
    this.stats = new Map();
    try {
      await this.deps.report({ calls: Object.fromEntries(out) });
    } catch {
      for (const [k, s] of out) {
        const p = this.stats.get(k);
        if (p) {
          p.count += s.count;
          p.last = Math.max(p.last, s.last);
        } else this.stats.set(k, s);
      }
    }
  }
}
