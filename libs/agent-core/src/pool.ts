import { FloeError, type FunctionVersion, type RuntimeName, type StartKind } from '@floe/contracts';
import { Capacity, type EvictionReason } from './capacity.js';
import { Freezer } from './freezer.js';
import { describeExit, functionKey, type Instance, type InstanceBackend } from './instance.js';
import {
  type ChannelRequest,
  type ChannelResponse,
  ChannelTimeoutError,
  type InstanceChannel,
  ResponseTooLargeError,
} from './instance-channel.js';
import { InstanceLifecycle } from './instance-lifecycle.js';
import { InstanceStarter } from './instance-starter.js';
import type { InstanceState } from './instance-state.js';
import { type KeepAliveChoice, KeepAlivePolicy } from './keep-alive.js';
import { PoolRegistry } from './pool-registry.js';
import { surplusInstances } from './scale-in.js';
import { Stemcells } from './stemcells.js';

export interface LaunchOptions {
  id: string;
  runtime: RuntimeName;
  memoryBytes: number;
  /** Present for a cold start or an image function: what the rootfs and process are for. */
  version?: FunctionVersion;
}

/** Builds real containers for the pool; see container-launcher.ts. */
export interface Launcher {
  /** Starts a container running `runtime`'s bootstrap; resolves once the runtime connected. */
  launch(opts: LaunchOptions): Promise<{ backend: InstanceBackend; channel: InstanceChannel }>;
  /** Makes the version's code and secrets visible in the instance; returns what `load` needs. */
  bind(
    instanceId: string,
    version: FunctionVersion,
  ): Promise<{ handler: string; env: Record<string, string>; codeDir: string }>;
  /** Frees what `launch`/`bind` made on the host for this instance. */
  release(instanceId: string): Promise<void>;
  /** Tops up what the launcher makes ahead (prepared sandboxes), after a cold start's first call. */
  refill?(): void;
}

/** Hooks for metrics and logs; all optional. */
export interface PoolEvents {
  start?(kind: StartKind, runtime: RuntimeName, ms: number): void;
  freeze?(ms: number): void;
  thaw?(ms: number): void;
  failure?(fn: string, kind: 'oom' | 'timeout' | 'crash'): void;
  transition?(inst: Instance, from: InstanceState, to: InstanceState): void;
  /** An idle instance is destroyed to make room, or because its keep-alive ran out. */
  evict?(reason: EvictionReason, inst: Instance): void;
  /** A paused instance's keep-alive was armed, as the policy chose it (keep-alive.ts). */
  keepAlive?(choice: KeepAliveChoice, inst: Instance): void;
  error?(msg: string, err: unknown): void;
}

export interface PoolOptions {
  capacityBytes: number;
  pauseGraceMs: number;
  /** The fixed keep-alive of a paused instance, until its function has a call pattern. */
  keepAliveMs: number;
  /**
   * Sum of instance limits over capacity the agent admits (≥ 1, default 1): frozen instances
   * count at their usage, so the agent keeps more of them than capacity / limit (capacity.ts).
   */
  overcommit?: number;
  /** How long a paused instance stays paused before its reclaimable memory is given back. */
  reclaimAfterMs: number;
  /** Memory limit of an unbound stemcell. */
  stemcellBytes: number;
  stemcells: Partial<Record<RuntimeName, number>>;
  /** FLOE_MAX_BODY_BYTES: a larger request body is refused before any instance is touched. */
  maxBodyBytes?: number;
  /**
   * Containers `ensure` (the autoscaler's scale-out) starts at a time; default 1. Starts past
   * the cores only take CPU from the instances serving the load that asked for them.
   */
  parallelStarts?: number;
  /**
   * A call that finds every instance of its function busy waits for one; only a wait longer
   * than this (about a start) starts another. Default 50 ms.
   */
  scaleOutAfterMs?: number;
  events?: PoolEvents;
}

export interface PoolResult extends ChannelResponse {
  start: StartKind;
  instanceId: string;
}

type Acquired = { inst: Instance; start: StartKind; frozen?: boolean };

type Waiter = {
  resolve: (i: Instance) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** When it began waiting (performance.now()). */
  since: number;
  /** Starts one more instance if the wait outlasts `scaleOutAfterMs`. */
  scaleOut?: NodeJS.Timeout;
};

/**
 * Default of PoolOptions.scaleOutAfterMs: a cold start here (30–50 ms). Shorter, and calls
 * that are only waiting their turn on saturated cores (c=64 on 2 cores waits ~16–30 ms
 * whatever the instance count) start containers that take those cores.
 */
const SCALE_OUT_AFTER_MS = 50;

const now = () => performance.now();

/**
 * The agent's containers, in the manner of OpenWhisk's ContainerPool: a call takes a warm
 * instance of its function (thawing it if paused), else specializes a frozen stemcell of its
 * runtime (prewarm), else starts one (cold), evicting least-recently-used paused instances
 * when memory is short; past the function's instance cap, calls wait in a bounded queue.
 *
 * This file holds the invoke path (acquire → call → release, thawing on the way) and the
 * public facade; the rest is composed in: the shared registry (pool-registry.ts), container
 * creation and teardown (instance-lifecycle.ts), prewarm and cold starts (instance-starter.ts),
 * the stemcell stock (stemcells.ts), LRU eviction (capacity.ts) and pausing (freezer.ts).
 */
export class Pool {
  private readonly registry = new PoolRegistry();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly lifecycle: InstanceLifecycle;
  private readonly starter: InstanceStarter;
  private readonly stemcells: Stemcells;
  private readonly capacity: Capacity;
  readonly keepAlive: KeepAlivePolicy;

  constructor(
    private readonly launcher: Launcher,
    private readonly opts: PoolOptions,
    idPrefix = 'i',
  ) {
    const destroy = (inst: Instance) => this.lifecycle.destroy(inst);
    this.keepAlive = new KeepAlivePolicy({
      fixedMs: opts.keepAliveMs,
      minMs: Math.min(opts.keepAliveMs, 60_000),
      maxMs: Math.max(opts.keepAliveMs, 4 * 3600_000),
      minSamples: 4,
    });
    const freezer = new Freezer(opts, destroy);
    this.capacity = new Capacity(this.registry, opts, destroy, this.keepAlive);
    this.lifecycle = new InstanceLifecycle(
      this.registry,
      launcher,
      opts,
      idPrefix,
      freezer,
      () => this.stemcells.scheduleRefill(),
      this.keepAlive,
    );
    this.stemcells = new Stemcells(this.registry, this.lifecycle, opts, this.capacity);
    this.starter = new InstanceStarter(this.registry, launcher, opts, this.lifecycle, this.capacity);
  }

  // ---- calls -------------------------------------------------------------------------------

  async invoke(version: FunctionVersion, req: ChannelRequest, body: Buffer): Promise<PoolResult> {
    const max = this.opts.maxBodyBytes;
    if (max !== undefined && body.length > max)
      throw new FloeError(
        'INVALID_ARGUMENT',
        `request body of ${body.length} bytes is over the invoke channel's limit of ${max} bytes (FLOE_MAX_BODY_BYTES)`,
        { fault: 'user', details: { field: 'body', limitBytes: max, httpStatus: 413 } },
      );
    // The channel fails the call at this deadline (ChannelTimeoutError); the runtime sees it too.
    req.deadline ??= Date.now() + version.timeoutMs;
    const key = functionKey(version.namespace, version.name);
    this.keepAlive.callStarted(key, Date.now());
    const { inst, start, frozen } = this.takeWarm(version) ?? (await this.acquire(version, req.deadline));
    try {
      const pending = inst.call(req, body);
      if (frozen) {
        // The request is queued in the socket while the instance is still frozen: it wakes once,
        // with work waiting, instead of waking into an idle loop and again when the bytes land.
        const thawing = this.resume(inst);
        if (thawing) {
          pending.catch(() => {});
          await thawing;
        }
      }
      const res = await pending;
      if (res.status === 500 && (inst.runtime === 'exec' || inst.runtime === 'image'))
        await this.checkOom(inst, res);
      return { ...res, start, instanceId: inst.id };
    } catch (err) {
      throw await this.failCall(inst, err);
    } finally {
      this.keepAlive.callEnded(key, Date.now());
      this.release(inst);
      // The stemcell this call took is replaced only now: starting a container competes for
      // the same cores and would slow the very call that needed the stemcell.
      if (start === 'prewarm') this.stemcells.scheduleRefill();
      else if (start === 'cold') this.launcher.refill?.();
    }
  }

  /** A per-request process killed by the OOM killer leaves its container alive; say so. */
  private async checkOom(inst: Instance, res: ChannelResponse): Promise<void> {
    if (res.status !== 500) return;
    const before = inst.oomKills ?? 0;
    const after = (await inst.backend.memoryUsage()).oomKills;
    inst.oomKills = after;
    if (after > before) {
      this.opts.events?.failure?.(inst.key ?? '', 'oom');
      throw new FloeError(
        'FUNCTION_FAILED',
        `function ${inst.version?.name}: ${describeExit({ reason: 'OOMKilled' }, inst.reservedBytes)}`,
        { fault: 'user', details: { reason: 'OOMKilled', limitBytes: inst.reservedBytes } },
      );
    }
  }

  private async failCall(inst: Instance, err: unknown): Promise<Error> {
    const name = inst.version?.name ?? inst.id;
    if (err instanceof ChannelTimeoutError) {
      this.opts.events?.failure?.(inst.key ?? '', 'timeout');
      await this.lifecycle.destroy(inst, 'timeout');
      const secs = (inst.version?.timeoutMs ?? 0) / 1000;
      return new FloeError('DEADLINE_EXCEEDED', `function ${name} timed out after ${secs}s`, {
        fault: 'user',
      });
    }
    if (err instanceof ResponseTooLargeError) {
      // Its channel is gone with the oversized frame: the next call gets a fresh instance.
      await this.lifecycle.destroy(inst);
      return err;
    }
    if (err instanceof FloeError && err.code === 'FUNCTION_FAILED') return err;
    // The connection dropped: the process died. Its exit reason says why.
    const exit = await Promise.race([
      inst.backend.exited,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000)),
    ]);
    await this.lifecycle.destroy(inst);
    if (!exit)
      return new FloeError('UNAVAILABLE', `function ${name}: instance ${inst.id} stopped answering`, {
        cause: err,
      });
    this.opts.events?.failure?.(inst.key ?? '', exit.reason === 'OOMKilled' ? 'oom' : 'crash');
    return new FloeError('FUNCTION_FAILED', `function ${name}: ${describeExit(exit, inst.reservedBytes)}`, {
      fault: 'user',
      details: { ...exit, limitBytes: inst.reservedBytes },
    });
  }

  /**
   * A warm instance of `version` free for one more call, without waiting: an unfrozen one
   * first, else the most recently used frozen one (`frozen`: the caller thaws it). One pass
   * over this function's instances only; this runs on every call.
   */
  private takeWarm(version: FunctionVersion): Acquired | undefined {
    if (this.registry.closed) return undefined;
    const set = this.registry.byFunction.get(functionKey(version.namespace, version.name));
    if (!set) return undefined;
    const max = Math.max(1, version.maxConcurrency);
    let frozen: Instance | undefined;
    for (const i of set) {
      if (i.inflight >= max || !i.live || i.version?.version !== version.version) continue;
      const s = i.state;
      if (s === 'idle' || s === 'running') return { inst: this.takeRunning(i), start: 'warm' };
      if (
        (s === 'paused' || s === 'pausing' || s === 'resuming') &&
        (!frozen || i.lastUsed > frozen.lastUsed)
      )
        frozen = i;
    }
    if (!frozen) return undefined;
    frozen.inflight++;
    frozen.lastUsed = Date.now();
    return { inst: frozen, start: 'warm', frozen: true };
  }

  /** No warm instance was free (takeWarm): wait for one, or start one. */
  private async acquire(version: FunctionVersion, deadline: number): Promise<Acquired> {
    if (this.registry.closed) throw new FloeError('UNAVAILABLE', 'agent is shutting down');
    const key = functionKey(version.namespace, version.name);
    const mine = this.liveOf(key, version);
    const count = mine + (this.registry.creatingByFn.get(key) ?? 0);
    if (count >= Math.max(1, version.maxScale))
      return { inst: await this.wait(key, deadline), start: 'warm' };
    if (mine > 0) {
      // Every instance is busy: this call takes whichever is free first, and only if that
      // takes longer than a start (scaleOutAfterMs) does one more start, in the background.
      // Starting at once on every such call made a burst of 16 sub-millisecond calls on one
      // instance start 13 containers, whose setup took the cores from the instance serving
      // the burst (a p99 of 90–230 ms at c=16 here, ~12 ms without them). Starts in flight
      // are capped at half the running instances (at least one).
      return { inst: await this.wait(key, deadline, () => this.scaleOutIfCapped(version)), start: 'warm' };
    }
    const stem = version.runtime === 'image' ? undefined : this.registry.findStemcell(version.runtime);
    if (stem) return { inst: await this.starter.specialize(stem, version), start: 'prewarm' };
    return { inst: await this.starter.cold(version), start: 'cold' };
  }

  /**
   * One more start for calls that have waited longer than a start, unless `version` is at max
   * scale here or half its running instances (at least one) are already starting.
   */
  private scaleOutIfCapped(version: FunctionVersion): void {
    const key = functionKey(version.namespace, version.name);
    const creating = this.registry.creatingByFn.get(key) ?? 0;
    const mine = this.liveOf(key, version);
    if (mine + creating >= Math.max(1, version.maxScale)) return;
    if (creating < Math.max(1, mine >> 1)) this.scaleOut(version);
  }

  /** Live instances of this version of `key`'s function here (starting ones not counted). */
  private liveOf(key: string, version: FunctionVersion): number {
    let n = 0;
    for (const i of this.registry.byFunction.get(key) ?? [])
      if (i.live && i.version?.version === version.version) n++;
    return n;
  }

  /** Starts one more instance of `version` for whoever waits (see `acquire`), else it idles. */
  private scaleOut(version: FunctionVersion): void {
    const key = functionKey(version.namespace, version.name);
    const stem = version.runtime === 'image' ? undefined : this.registry.findStemcell(version.runtime);
    const started = stem ? this.starter.specialize(stem, version) : this.starter.cold(version);
    started.then(
      (inst) => {
        this.release(inst);
        if (stem) this.stemcells.scheduleRefill();
        // A call that outwaited a start while this one ran asked when starts were capped.
        if (this.longestWaitMs(key) >= this.scaleOutAfterMs) this.scaleOutIfCapped(version);
      },
      (err) => this.opts.events?.error?.(`scaling out ${version.namespace}/${version.name}`, err),
    );
  }

  private takeRunning(inst: Instance): Instance {
    inst.inflight++;
    inst.lastUsed = Date.now();
    if (inst.state === 'idle') inst.sm.transition('running');
    return inst;
  }

  private get scaleOutAfterMs(): number {
    return this.opts.scaleOutAfterMs ?? SCALE_OUT_AFTER_MS;
  }

  /** How long the longest-waiting call of `key` has waited for an instance here (0: none). */
  private longestWaitMs(key: string): number {
    const first = this.waiters.get(key)?.[0];
    return first ? now() - first.since : 0;
  }

  /** `onLongWait`: called if the wait outlasts scaleOutAfterMs. */
  private wait(key: string, deadline: number, onLongWait?: () => void): Promise<Instance> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(key) ?? [];
      const w: Waiter = {
        resolve: (i) => {
          clearTimeout(w.scaleOut);
          resolve(i);
        },
        reject: (e) => {
          clearTimeout(w.scaleOut);
          reject(e);
        },
        since: now(),
        ...(onLongWait ? { scaleOut: setTimeout(onLongWait, this.scaleOutAfterMs) } : {}),
        timer: setTimeout(
          () => {
            clearTimeout(w.scaleOut);
            const l = this.waiters.get(key);
            if (l) l.splice(l.indexOf(w), 1);
            reject(
              new FloeError('RESOURCE_EXHAUSTED', `function ${key}: all instances busy`, {
                details: { retryAfterSeconds: 1 },
              }),
            );
          },
          Math.max(0, deadline - Date.now()),
        ),
      };
      list.push(w);
      this.waiters.set(key, list);
    });
  }

  private release(inst: Instance): void {
    inst.inflight = Math.max(0, inst.inflight - 1);
    inst.lastUsed = Date.now();
    if (!inst.live || inst.state !== 'running') return;
    const w = this.waiters.get(inst.key ?? '')?.shift();
    if (w) {
      clearTimeout(w.timer);
      inst.inflight++;
      w.resolve(inst);
      return;
    }
    if (inst.inflight === 0) inst.sm.transition('idle');
  }

  /** Thaws `inst` for a call: in this turn when nothing else is in progress, else in turn. */
  private resume(inst: Instance): Promise<void> | undefined {
    if (
      inst.state === 'paused' &&
      !inst.reclaimed &&
      inst.settled &&
      inst.backend.thawSync &&
      this.capacity.fitsThaw(inst)
    ) {
      // The common case costs one write and no promise.
      inst.sm.transition('resuming');
      const t0 = now();
      inst.backend.thawSync();
      this.opts.events?.thaw?.(now() - t0);
      inst.sm.transition('running');
      return undefined;
    }
    return inst.serialize(async () => {
      // Thawed, it counts at its limit again: room is made first, never past capacity.
      while (inst.state === 'paused' && !this.capacity.fitsThaw(inst))
        await this.capacity.makeRoomToThaw(inst);
      if (inst.state === 'paused') {
        inst.sm.transition('resuming');
        const t0 = now();
        if (inst.reclaimed) {
          await inst.backend.restore?.();
          inst.reclaimed = false;
        }
        await inst.backend.thaw();
        this.opts.events?.thaw?.(now() - t0);
      }
      if (inst.state === 'resuming' || inst.state === 'idle') inst.sm.transition('running');
      if (inst.state !== 'running')
        throw new FloeError('UNAVAILABLE', `instance ${inst.id} went away while resuming`);
    });
  }

  // ---- scaling -----------------------------------------------------------------------------

  /**
   * Keeps `n` instances of `version` here. The first `floor` (default all `n`: min scale,
   * fn.scale's replicas) start regardless; the rest are demand, started only while a call
   * here has waited for an instance longer than a start (scaleOutAfterMs).
   */
  async ensure(version: FunctionVersion, n: number, floor = n): Promise<number> {
    const key = functionKey(version.namespace, version.name);
    const have = () => this.liveOf(key, version) + (this.registry.creatingByFn.get(key) ?? 0);
    const target = Math.min(n, Math.max(1, version.maxScale));
    // A few at a time (parallelStarts): 16 calls on one instance asked for 15 more, and
    // starting them all at once took the cores from that instance for a quarter of a second.
    const lanes = Array.from({ length: Math.max(1, this.opts.parallelStarts ?? 1) }, async () => {
      while (!this.registry.closed && have() < target) {
        // Demand past the floor: queueing for a busy instance is cheaper while waits are short.
        if (have() >= Math.max(1, floor) && this.longestWaitMs(key) < this.scaleOutAfterMs) return;
        // Min scale is kept with free memory only: evicting another function's idle instance
        // to pre-warm this one would just trade places (and, at thousands of functions,
        // churn). A call still evicts to start what it needs; the autoscaler asks again later.
        if (!this.capacity.fits(version.memoryBytes)) return;
        const stem = version.runtime === 'image' ? undefined : this.registry.findStemcell(version.runtime);
        const inst = await (stem ? this.starter.specialize(stem, version) : this.starter.cold(version));
        this.release(inst);
      }
    });
    await Promise.all(lanes);
    return have();
  }

  /**
   * Destroys a function's instances: all, or those not of `keepVersion`, or with `scaleIn`
   * only the surplus over `keep` that has been idle `idleMs` (see scale-in.ts).
   */
  async retire(
    namespace: string,
    name: string,
    keepVersion?: number,
    scaleIn?: { keep: number; idleMs: number },
  ): Promise<number> {
    const key = functionKey(namespace, name);
    const mine = [...this.registry.instances.values()].filter((i) => i.key === key);
    const victims = scaleIn
      ? surplusInstances(mine, scaleIn.keep, scaleIn.idleMs, Date.now())
      : mine.filter((i) => i.version?.version !== keepVersion);
    await Promise.all(victims.map((i) => this.lifecycle.destroy(i)));
    return victims.length;
  }

  // ---- capacity and stemcells --------------------------------------------------------------

  /** Memory admitted against capacity (frozen instances at their usage); see capacity.ts. */
  get usedBytes(): number {
    return this.registry.usedBytes;
  }

  /** Memory that evicting every instance not busy would give back. */
  get evictableBytes(): number {
    return this.capacity.evictableBytes();
  }

  /** Sum of live instances' limits, capped at capacity × overcommit. */
  get limitBytes(): number {
    return this.registry.limitBytes;
  }

  setStemcellTargets(targets: Partial<Record<RuntimeName, number>>): void {
    this.stemcells.setTargets(targets);
  }

  /** Tops stemcells up to their targets, without ever evicting a warm instance for one. */
  refill(): Promise<void> {
    return this.stemcells.refill();
  }

  // ---- teardown ----------------------------------------------------------------------------

  destroy(inst: Instance, reason?: 'timeout'): Promise<void> {
    return this.lifecycle.destroy(inst, reason);
  }

  async close(): Promise<void> {
    this.registry.closed = true;
    for (const list of this.waiters.values())
      for (const w of list) w.reject(new FloeError('UNAVAILABLE', 'agent is shutting down'));
    this.waiters.clear();
    await this.lifecycle.destroyAll();
  }

  // ---- reporting ---------------------------------------------------------------------------

  list(): Instance[] {
    return this.registry.list();
  }

  summary() {
    return this.registry.summary();
  }
}
