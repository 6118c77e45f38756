import type { AgentInfo, FunctionVersion, RuntimeName } from '@floe/contracts';
import type { AgentClientFactory } from './agent-client.js';
import type { AgentDirectory } from './agent-directory.js';
import type { FunctionCache } from './function-cache.js';
import type { FunctionEntry, FunctionRegistry } from './function-registry.js';
import { fnKey } from './keys.js';
import type { LoadTracker } from './load-tracker.js';
import { metrics } from './metrics.js';
import { replicaFloor, type ZeroSettings } from './replica-policy.js';
import { scaleInTargets } from './scale-in.js';

export interface PoolSettings extends ZeroSettings {
  /** Stemcells each agent keeps per code runtime. */
  stemcellsPerRuntime: number;
  /** An instance over the desired count with no call for this long is retired (scale-in). */
  scaleInIdleMs?: number;
}

/** Default of PoolSettings.scaleInIdleMs. */
export const DEFAULT_SCALE_IN_IDLE_MS = 10_000;

export type Log = (msg: string) => void;

/** What the autoscaler decided for one function; returned for tests and logs. */
export interface ScaleDecision {
  key: string;
  instances: number;
  desired: number;
  action: 'none' | 'scale-out' | 'scale-in' | 'scale-to-zero';
}

const CODE_RUNTIMES: RuntimeName[] = ['node', 'python', 'exec'];

/**
 * The leader's pool manager. Each `reconcile` compares, per function, the instances the
 * agents report with the desired count: at least the floor (replica-policy.ts: min scale,
 * fn.scale's replicas, or zero), plus enough for the demand (in-flight + queued calls over
 * maxConcurrency per instance), at most max scale. Short: ensure more on the agents with the
 * most free memory (agent.ensure takes a per-agent target, so repeating a decision before the
 * next heartbeat is harmless). A floor of zero: retire everywhere. Over: ask the agents with
 * the most instances to retire the surplus that has had no call for scaleInIdleMs, so an
 * instance still serving load is never the one that goes.
 */
export class Autoscaler {
  private readonly versions = new Map<string, number>();
  private readonly ensuring = new Set<string>();
  /**
   * Failed ensures per function and agent: retried after 1, 2, 4 … 60 s, so a version whose
   * instances cannot start (a broken image) is not retried on every reconcile.
   */
  private readonly ensureBackoff = new Map<string, { failures: number; until: number }>();
  /** Last scale-in request per function, so surplus is asked for once per idle period. */
  private readonly scaledIn = new Map<string, number>();

  constructor(
    private readonly cache: FunctionCache,
    private readonly directory: AgentDirectory,
    private readonly clients: AgentClientFactory,
    private readonly tracker: LoadTracker,
    private readonly registry: FunctionRegistry,
    private readonly settings: PoolSettings,
    private readonly log: Log = () => {},
  ) {}

  /** Stemcell targets for one agent (sent when it appears or a new leader takes over). */
  async sendTarget(agent: AgentInfo): Promise<void> {
    const stemcells: Partial<Record<RuntimeName, number>> = {};
    for (const r of CODE_RUNTIMES) stemcells[r] = this.settings.stemcellsPerRuntime;
    await this.clients.get(agent).target({ stemcells });
  }

  async reconcile(now = Date.now()): Promise<ScaleDecision[]> {
    const entries = this.cache.all();
    const stats = await this.lastCalls(entries).catch(() => new Map<string, number>());
    const agents = this.directory.agents();
    const decisions: ScaleDecision[] = [];
    for (const entry of entries) {
      const d = await this.reconcileOne(
        entry,
        agents,
        stats.get(fnKey(entry.record.namespace, entry.record.name)) ?? 0,
        now,
      );
      decisions.push(d);
    }
    return decisions;
  }

  /** Retires instances of versions other than the active one, once per version change. */
  async retireOldVersions(entry: FunctionEntry): Promise<void> {
    const key = fnKey(entry.record.namespace, entry.record.name);
    if (this.versions.get(key) === entry.version.version) return;
    this.versions.set(key, entry.version.version);
    await this.onEveryAgent(key, (a) =>
      this.clients.get(a).retire({
        namespace: entry.record.namespace,
        name: entry.record.name,
        keepVersion: entry.version.version,
      }),
    );
  }

  /** Retires a removed function everywhere. */
  async retireAll(namespace: string, name: string): Promise<void> {
    const key = fnKey(namespace, name);
    this.versions.delete(key);
    this.scaledIn.delete(key);
    for (const k of this.ensureBackoff.keys()) if (k.startsWith(`${key}@`)) this.ensureBackoff.delete(k);
    this.tracker.forget(key);
    metrics.replicas.remove({ function_name: `${name}.${namespace}` });
    await this.onEveryAgent(undefined, (a) => this.clients.get(a).retire({ namespace, name }));
  }

  private async reconcileOne(
    entry: FunctionEntry,
    agents: AgentInfo[],
    lastCall: number,
    now: number,
  ): Promise<ScaleDecision> {
    const v = entry.version;
    const key = fnKey(v.namespace, v.name);
    let instances = 0;
    let reported = 0;
    for (const a of agents) {
      instances += a.functions[key]?.instances ?? 0;
      reported += a.functions[key]?.inflight ?? 0;
    }
    metrics.replicas.set({ function_name: `${v.name}.${v.namespace}` }, instances);
    await this.retireOldVersions(entry).catch((e) => this.log(`retire old versions of ${key}: ${e.message}`));
    const demand = Math.max(reported, this.tracker.total(key)) + this.tracker.waitingFor(key);
    // A fresh version counts as activity, so a deploy's instances are not retired at once.
    const last = Math.max(lastCall, this.tracker.lastActivity(key), Date.parse(v.createdAt) || 0);
    const { floor, why } = replicaFloor(entry, last, demand, now, this.settings);
    const desired = Math.min(v.maxScale, Math.max(floor, Math.ceil(demand / v.maxConcurrency)));
    if (desired > instances) {
      this.scaleOut(v, desired - instances, agents, floor);
      return { key, instances, desired, action: 'scale-out' };
    }
    if (instances > 0 && desired === 0 && (why === 'held' || why === 'idle')) {
      this.log(`scale ${key} to zero (${why === 'held' ? 'scaled to 0' : `${now - last} ms idle`})`);
      await this.onEveryAgent(key, (a) =>
        this.clients.get(a).retire({ namespace: v.namespace, name: v.name }),
      );
      return { key, instances, desired: 0, action: 'scale-to-zero' };
    }
    // Only the two ways above reach zero: min scale 0 means "not started on deploy".
    const keep = Math.max(desired, 1);
    if (instances > keep && this.scaleIn(v, keep, agents, now))
      return { key, instances, desired, action: 'scale-in' };
    return { key, instances, desired, action: 'none' };
  }

  /** Asks agents to retire their idle surplus over `desired`; false when asked too recently. */
  private scaleIn(v: FunctionVersion, desired: number, agents: AgentInfo[], now: number): boolean {
    const key = fnKey(v.namespace, v.name);
    const idleMs = this.settings.scaleInIdleMs ?? DEFAULT_SCALE_IN_IDLE_MS;
    if (now - (this.scaledIn.get(key) ?? 0) < Math.max(1000, idleMs / 2)) return false;
    this.scaledIn.set(key, now);
    const have = agents.map((a) => ({ id: a.id, instances: a.functions[key]?.instances ?? 0 }));
    for (const [id, keep] of scaleInTargets(have, desired)) {
      const agent = agents.find((a) => a.id === id);
      if (!agent) continue;
      void this.clients
        .get(agent)
        .retire({ namespace: v.namespace, name: v.name, keep, idleMs })
        .catch((e) => this.log(`scale in ${key} on ${id}: ${e.message}`));
    }
    return true;
  }

  private scaleOut(v: FunctionVersion, extra: number, agents: AgentInfo[], floor: number): void {
    const key = fnKey(v.namespace, v.name);
    const free = new Map(agents.map((a) => [a.id, a.free.memoryBytes]));
    const target = new Map(agents.map((a) => [a.id, a.functions[key]?.instances ?? 0]));
    for (let i = 0; i < extra; i++) {
      // One instance at a time onto the agent with the fewest of them, then the most free
      // memory: instances spread, so losing one agent loses few.
      const best = agents
        .filter((a) => (free.get(a.id) ?? 0) >= v.memoryBytes)
        .sort(
          (x, y) =>
            (target.get(x.id) ?? 0) - (target.get(y.id) ?? 0) ||
            (free.get(y.id) ?? 0) - (free.get(x.id) ?? 0),
        )[0];
      if (!best) break;
      free.set(best.id, (free.get(best.id) ?? 0) - v.memoryBytes);
      target.set(best.id, (target.get(best.id) ?? 0) + 1);
    }
    for (const a of agents) {
      const want = target.get(a.id) ?? 0;
      const pending = `${key}@${a.id}`;
      if (want <= (a.functions[key]?.instances ?? 0) || this.ensuring.has(pending)) continue;
      const backoff = this.ensureBackoff.get(pending);
      if (backoff && Date.now() < backoff.until) continue;
      // Not awaited: a cold start can take seconds and must not stall other functions'
      // reconcile; one ensure per function and agent at a time.
      this.ensuring.add(pending);
      void this.clients
        .get(a)
        .ensure({ version: v, instances: want, floor: Math.min(floor, want) })
        .then(
          () => this.ensureBackoff.delete(pending),
          (e) => {
            const failures = (backoff?.failures ?? 0) + 1;
            const wait = Math.min(60_000, 500 * 2 ** failures);
            this.ensureBackoff.set(pending, { failures, until: Date.now() + wait });
            this.log(`ensure ${key} on ${a.id}: ${e.message} (next try in ${wait} ms)`);
          },
        )
        .finally(() => this.ensuring.delete(pending));
    }
  }

  private async onEveryAgent(key: string | undefined, fn: (a: AgentInfo) => Promise<void>): Promise<void> {
    const agents = this.directory.all().filter((a) => key === undefined || a.functions[key]);
    await Promise.all(agents.map((a) => fn(a).catch((e) => this.log(`agent ${a.id}: ${e.message}`))));
  }

  private async lastCalls(entries: FunctionEntry[]): Promise<Map<string, number>> {
    const byNs = new Map<string, string[]>();
    for (const e of entries)
      byNs.set(e.record.namespace, [...(byNs.get(e.record.namespace) ?? []), e.record.name]);
    const out = new Map<string, number>();
    for (const [ns, names] of byNs) {
      for (const [name, s] of await this.registry.stats(ns, names)) out.set(fnKey(ns, name), s.last);
    }
    return out;
  }
}
