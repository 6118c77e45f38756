import { FloeError, type FunctionVersion, type RuntimeName, type StartKind } from '@floe/contracts';
import { describeExit, type ExitReason, functionKey, Instance, type InstanceBackend } from './instance.js';
import type { ChannelRequest, ChannelResponse, InstanceChannel } from './instance-channel.js';
import type { InstanceState } from './instance-state.js';

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
}

/** Hooks for metrics and logs; all optional. */
export interface PoolEvents {
  start?(kind: StartKind, runtime: RuntimeName, ms: number): void;
  freeze?(ms: number): void;
  thaw?(ms: number): void;
  failure?(fn: string, kind: 'oom' | 'timeout' | 'crash'): void;
  transition?(inst: Instance, from: InstanceState, to: InstanceState): void;
  error?(msg: string, err: unknown): void;
}

export interface PoolOptions {
  capacityBytes: number;
  pauseGraceMs: number;
  keepAliveMs: number;
  /** How long a paused instance stays paused before its reclaimable memory is given back. */
  reclaimAfterMs: number;
  /** Memory limit of an unbound stemcell. */
  stemcellBytes: number;
  stemcells: Partial<Record<RuntimeName, number>>;
  events?: PoolEvents;
}

export interface PoolResult extends ChannelResponse {
  start: StartKind;
  instanceId: string;
}

type Waiter = { resolve: (i: Instance) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

const STEMCELL_RUNTIMES: RuntimeName[] = ['node', 'python', 'exec'];
const now = () => performance.now();

/**
 * The agent's containers, in the manner of OpenWhisk's ContainerPool: a call takes a warm
 * instance of its function (thawing it if paused), else specializes a frozen stemcell of its
 * runtime (prewarm), else starts one (cold), evicting least-recently-used paused instances
 * when memory is short; past the function's instance cap, calls wait in a bounded queue.
 */
export class Pool {
  private readonly instances = new Map<string, Instance>();
  /** Live instances per function key (`ns/name`), the index the invoke path looks up. */
  private readonly byFunction = new Map<string, Set<Instance>>();
  private readonly waiters = new Map<string, Waiter[]>();
  /** Memory promised to containers being created, not yet in `instances`. */
  private creatingBytes = 0;
  private readonly creatingByFn = new Map<string, number>();
  private readonly creatingStemcells = new Map<RuntimeName, number>();
  private seq = 0;
  private closed = false;
  /** Containers being started, so shutdown can wait for them and tear them down too. */
  private readonly launches = new Set<Promise<unknown>>();

  constructor(
    private readonly launcher: Launcher,
    private readonly opts: PoolOptions,
    private readonly idPrefix = 'i',
  ) {}

  // ---- calls -------------------------------------------------------------------------------

  async invoke(version: FunctionVersion, req: ChannelRequest, body: Buffer): Promise<PoolResult> {
    const deadline = req.deadline ?? Date.now() + version.timeoutMs;
    const { inst, start, thaw } = await this.acquire(version, deadline);
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new FloeError(
                'DEADLINE_EXCEEDED',
                `function ${version.name} timed out after ${version.timeoutMs / 1000}s`,
                { fault: 'user' },
              ),
            ),
          Math.max(0, deadline - Date.now()),
        );
      });
      const pending = inst.call(req, body);
      if (thaw) {
        // The request is queued in the socket while the instance is still frozen: it wakes once,
        // with work waiting, instead of waking into an idle loop and again when the bytes land.
        pending.catch(() => {});
        await thaw();
      }
      const res = await Promise.race([pending, timeout]);
      if (res.status === 500 && (inst.runtime === 'exec' || inst.runtime === 'image'))
        await this.checkOom(inst, res);
      return { ...res, start, instanceId: inst.id };
    } catch (err) {
      throw await this.failCall(inst, err);
    } finally {
      clearTimeout(timer);
      this.release(inst);
      // The stemcell this call took is replaced only now: starting a container competes for
      // the same cores and would slow the very call that needed the stemcell.
      if (start === 'prewarm') this.scheduleRefill();
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
    if (err instanceof FloeError && err.code === 'DEADLINE_EXCEEDED') {
      this.opts.events?.failure?.(inst.key ?? '', 'timeout');
      await this.destroy(inst, 'timeout');
      return err;
    }
    if (err instanceof FloeError && err.code === 'FUNCTION_FAILED') return err;
    // The connection dropped: the process died. Its exit reason says why.
    const exit = await Promise.race([
      inst.backend.exited,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000)),
    ]);
    await this.destroy(inst);
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

  private async acquire(
    version: FunctionVersion,
    deadline: number,
  ): Promise<{ inst: Instance; start: StartKind; thaw?: () => Promise<void> }> {
    if (this.closed) throw new FloeError('UNAVAILABLE', 'agent is shutting down');
    const key = functionKey(version.namespace, version.name);
    // Only this function's instances: the invoke path must not scan the whole pool.
    const mine = [...(this.byFunction.get(key) ?? [])].filter(
      (i) => i.version?.version === version.version && i.live,
    );
    const max = Math.max(1, version.maxConcurrency);
    // Warm and unfrozen first, then warm and frozen: the cheapest start that is available.
    const hot = mine.find((i) => (i.state === 'idle' || i.state === 'running') && i.inflight < max);
    if (hot) return { inst: this.takeRunning(hot), start: 'warm' };
    const frozen = mine
      .filter(
        (i) => (i.state === 'paused' || i.state === 'pausing' || i.state === 'resuming') && i.inflight < max,
      )
      .sort((a, b) => b.lastUsed - a.lastUsed)[0];
    if (frozen) {
      frozen.inflight++;
      frozen.lastUsed = Date.now();
      return { inst: frozen, start: 'warm', thaw: () => this.resume(frozen) };
    }
    const count = mine.length + (this.creatingByFn.get(key) ?? 0);
    if (count >= Math.max(1, version.maxScale))
      return { inst: await this.wait(key, deadline), start: 'warm' };
    const stem = version.runtime === 'image' ? undefined : this.findStemcell(version.runtime);
    if (stem) return { inst: await this.specialize(stem, version), start: 'prewarm' };
    return { inst: await this.cold(version), start: 'cold' };
  }

  private bindVersion(inst: Instance, version: FunctionVersion): void {
    inst.version = version;
    const key = functionKey(version.namespace, version.name);
    let set = this.byFunction.get(key);
    if (!set) {
      set = new Set();
      this.byFunction.set(key, set);
    }
    set.add(inst);
  }

  private takeRunning(inst: Instance): Instance {
    inst.inflight++;
    inst.lastUsed = Date.now();
    if (inst.state === 'idle') inst.sm.transition('running');
    return inst;
  }

  private wait(key: string, deadline: number): Promise<Instance> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(key) ?? [];
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(
          () => {
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

  // ---- freezing ----------------------------------------------------------------------------

  private pause(inst: Instance): Promise<void> {
    return inst.serialize(async () => {
      if (inst.state !== 'idle' || inst.inflight > 0) return;
      inst.sm.transition('pausing');
      const t0 = now();
      try {
        await inst.backend.freeze();
      } catch (err) {
        this.opts.events?.error?.(`freezing ${inst.id}`, err);
        await this.destroy(inst);
        return;
      }
      this.opts.events?.freeze?.(now() - t0);
      if ((inst.state as InstanceState) === 'pausing') inst.sm.transition('paused');
    });
  }

  private resume(inst: Instance): Promise<void> {
    return inst.serialize(async () => {
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

  // ---- starting ----------------------------------------------------------------------------

  private findStemcell(runtime: RuntimeName): Instance | undefined {
    for (const i of this.instances.values()) if (i.state === 'stemcell' && i.runtime === runtime) return i;
    return undefined;
  }

  private async specialize(inst: Instance, version: FunctionVersion): Promise<Instance> {
    const t0 = now();
    inst.sm.transition('specializing');
    this.bindVersion(inst, version);
    inst.inflight = 1;
    inst.lastUsed = Date.now();
    try {
      await inst.serialize(() => inst.backend.thaw());
      await this.bindAndLoad(inst, version);
      inst.sm.transition('running');
      this.opts.events?.start?.('prewarm', version.runtime, now() - t0);
      return inst;
    } catch (err) {
      await this.destroy(inst);
      throw startupError(version, err);
    }
  }

  private async bindAndLoad(inst: Instance, version: FunctionVersion): Promise<void> {
    // The stemcell's generous limit becomes the function's own before its code runs.
    await inst.backend.setMemoryLimit(version.memoryBytes);
    inst.reservedBytes = version.memoryBytes;
    const load = await this.launcher.bind(inst.id, version);
    await inst.channel.load({ name: version.name, ...load });
  }

  private async cold(version: FunctionVersion): Promise<Instance> {
    const t0 = now();
    const key = functionKey(version.namespace, version.name);
    // Counted before the first await, so concurrent calls see this start against the cap.
    this.creatingByFn.set(key, (this.creatingByFn.get(key) ?? 0) + 1);
    let inst: Instance | undefined;
    let reserved = false;
    try {
      await this.makeRoom(version.memoryBytes);
      this.creatingBytes += version.memoryBytes;
      reserved = true;
      inst = await this.launchInstance(version.runtime, version.memoryBytes, version);
      inst.sm.transition('specializing');
      this.bindVersion(inst, version);
      inst.inflight = 1;
      await this.bindAndLoad(inst, version);
      inst.sm.transition('running');
      this.opts.events?.start?.('cold', version.runtime, now() - t0);
      return inst;
    } catch (err) {
      if (inst) await this.destroy(inst);
      throw startupError(version, err);
    } finally {
      if (reserved) this.creatingBytes -= version.memoryBytes;
      this.creatingByFn.set(key, (this.creatingByFn.get(key) ?? 1) - 1);
    }
  }

  private async launchInstance(
    runtime: RuntimeName,
    memoryBytes: number,
    version?: FunctionVersion,
  ): Promise<Instance> {
    const id = `${this.idPrefix}-${runtime}-${(++this.seq).toString(36)}-${Date.now().toString(36)}`;
    const launching = this.launcher.launch({ id, runtime, memoryBytes, version });
    this.launches.add(launching);
    let launched: Awaited<typeof launching>;
    try {
      launched = await launching;
    } finally {
      this.launches.delete(launching);
    }
    const { backend, channel } = launched;
    if (this.closed) {
      // Shutdown began while this container was starting: it must not outlive the agent.
      channel.close();
      await backend.destroy().catch(() => {});
      await this.launcher.release(id).catch(() => {});
      throw new FloeError('UNAVAILABLE', 'agent is shutting down');
    }
    const inst = new Instance(id, runtime, backend, channel, memoryBytes);
    inst.sm
      .timerFor('idle', this.opts.pauseGraceMs, () => void this.pause(inst))
      .timerFor('paused', this.opts.keepAliveMs, () => void this.destroy(inst))
      .onTransition((from, to) => {
        this.opts.events?.transition?.(inst, from, to);
        if (to === 'paused' && inst.backend.reclaim) {
          setTimeout(() => {
            if (inst.state !== 'paused' || inst.reclaimed) return;
            inst.serialize(async () => {
              if (inst.state !== 'paused') return;
              await inst.backend.reclaim?.();
              inst.reclaimed = true;
            });
          }, this.opts.reclaimAfterMs).unref();
        }
      });
    this.instances.set(id, inst);
    // An instance that dies on its own (crash, OOM outside a call) leaves the pool at once.
    backend.exited.then((exit) => {
      if (!inst.live) return;
      if (inst.inflight === 0) this.opts.events?.failure?.(inst.key ?? '', exitKind(exit));
      void this.destroy(inst);
    });
    return inst;
  }

  /** Pre-warms `n` instances of a version (com.openfaas.scale.min or /system/scale-function). */
  async ensure(version: FunctionVersion, n: number): Promise<number> {
    const key = functionKey(version.namespace, version.name);
    const have = () =>
      [...this.instances.values()].filter(
        (i) => i.key === key && i.version?.version === version.version && i.live,
      ).length + (this.creatingByFn.get(key) ?? 0);
    const target = Math.min(n, Math.max(1, version.maxScale));
    const started: Promise<void>[] = [];
    while (have() < target) {
      const stem = version.runtime === 'image' ? undefined : this.findStemcell(version.runtime);
      const p = stem ? this.specialize(stem, version) : this.cold(version);
      started.push(p.then((inst) => this.release(inst)));
    }
    await Promise.all(started);
    return have();
  }

  /** Destroys a function's instances (all, or those not of `keepVersion`). */
  async retire(namespace: string, name: string, keepVersion?: number): Promise<number> {
    const key = functionKey(namespace, name);
    const victims = [...this.instances.values()].filter(
      (i) => i.key === key && i.version?.version !== keepVersion,
    );
    await Promise.all(victims.map((i) => this.destroy(i)));
    return victims.length;
  }

  // ---- capacity ----------------------------------------------------------------------------

  get usedBytes(): number {
    let used = this.creatingBytes;
    for (const i of this.instances.values()) if (i.live) used += i.reservedBytes;
    return used;
  }

  private async makeRoom(bytes: number): Promise<void> {
    if (bytes > this.opts.capacityBytes) {
      throw new FloeError(
        'INVALID_ARGUMENT',
        `memory ${bytes} exceeds this agent's capacity ${this.opts.capacityBytes}`,
        { fault: 'user' },
      );
    }
    while (this.usedBytes + bytes > this.opts.capacityBytes) {
      // LRU: paused instances first, then stemcells; never one that is busy.
      const victims = [...this.instances.values()]
        .filter(
          (i) => i.state === 'paused' || i.state === 'stemcell' || (i.state === 'idle' && i.inflight === 0),
        )
        .sort((a, b) => rank(a) - rank(b) || a.lastUsed - b.lastUsed);
      const v = victims[0];
      if (!v)
        throw new FloeError('RESOURCE_EXHAUSTED', 'agent memory is full', {
          details: { retryAfterSeconds: 1 },
        });
      await this.destroy(v);
    }
  }

  setStemcellTargets(targets: Partial<Record<RuntimeName, number>>): void {
    Object.assign(this.opts.stemcells, targets);
    this.scheduleRefill();
  }

  private refillPending = false;
  private scheduleRefill(): void {
    if (this.refillPending || this.closed) return;
    this.refillPending = true;
    setTimeout(() => {
      this.refillPending = false;
      void this.refill();
    }, 0).unref();
  }

  /** Tops stemcells up to their targets, without ever evicting a warm instance for one. */
  async refill(): Promise<void> {
    for (const runtime of STEMCELL_RUNTIMES) {
      const want = this.opts.stemcells[runtime] ?? 0;
      const have = () =>
        [...this.instances.values()].filter((i) => i.state === 'stemcell' && i.runtime === runtime).length +
        (this.creatingStemcells.get(runtime) ?? 0);
      while (
        !this.closed &&
        have() < want &&
        this.usedBytes + this.opts.stemcellBytes <= this.opts.capacityBytes
      ) {
        this.creatingStemcells.set(runtime, (this.creatingStemcells.get(runtime) ?? 0) + 1);
        this.creatingBytes += this.opts.stemcellBytes;
        try {
          const inst = await this.launchInstance(runtime, this.opts.stemcellBytes);
          this.creatingBytes -= this.opts.stemcellBytes;
          this.creatingStemcells.set(runtime, (this.creatingStemcells.get(runtime) ?? 1) - 1);
          const t0 = now();
          await inst.serialize(() => inst.backend.freeze());
          this.opts.events?.freeze?.(now() - t0);
          if (inst.state === 'creating') inst.sm.transition('stemcell');
        } catch (err) {
          this.creatingBytes -= this.opts.stemcellBytes;
          this.creatingStemcells.set(runtime, (this.creatingStemcells.get(runtime) ?? 1) - 1);
          this.opts.events?.error?.(`starting a ${runtime} stemcell`, err);
          break;
        }
      }
    }
  }

  // ---- teardown ----------------------------------------------------------------------------

  async destroy(inst: Instance, reason?: 'timeout'): Promise<void> {
    if (!inst.live) return;
    inst.sm.transition('destroying');
    this.instances.delete(inst.id);
    const set = inst.key ? this.byFunction.get(inst.key) : undefined;
    set?.delete(inst);
    if (set?.size === 0 && inst.key) this.byFunction.delete(inst.key);
    inst.channel.close();
    // Each step on its own: a container that fails to go must not also leak its mounts.
    try {
      await inst.backend.destroy(reason);
    } catch (err) {
      this.opts.events?.error?.(`destroying ${inst.id}`, err);
    }
    try {
      await this.launcher.release(inst.id);
    } catch (err) {
      this.opts.events?.error?.(`releasing ${inst.id}`, err);
    }
    inst.sm.transition('destroyed');
    if (inst.state === 'destroyed' && !this.closed && inst.runtime !== 'image' && !inst.version)
      this.scheduleRefill();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const list of this.waiters.values())
      for (const w of list) w.reject(new FloeError('UNAVAILABLE', 'agent is shutting down'));
    this.waiters.clear();
    await Promise.allSettled([...this.launches]);
    await Promise.all([...this.instances.values()].map((i) => this.destroy(i)));
  }

  // ---- reporting ---------------------------------------------------------------------------

  list(): Instance[] {
    return [...this.instances.values()];
  }

  summary() {
    const stemcells: Partial<Record<RuntimeName, number>> = {};
    const functions: Record<string, { instances: number; idle: number; inflight: number }> = {};
    for (const i of this.instances.values()) {
      if (i.state === 'stemcell') stemcells[i.runtime] = (stemcells[i.runtime] ?? 0) + 1;
      const key = i.key;
      if (!key) continue;
      functions[key] ??= { instances: 0, idle: 0, inflight: 0 };
      const f = functions[key];
      f.instances++;
      f.inflight += i.inflight;
      if (i.inflight === 0 && (i.state === 'idle' || i.state === 'paused')) f.idle++;
    }
    return { stemcells, functions, usedBytes: this.usedBytes };
  }
}

function rank(i: Instance): number {
  return i.state === 'stemcell' ? 1 : 0;
}

function exitKind(e: ExitReason): 'oom' | 'timeout' | 'crash' {
  return e.reason === 'OOMKilled' ? 'oom' : e.reason === 'timeout' ? 'timeout' : 'crash';
}

function startupError(version: FunctionVersion, err: unknown): Error {
  if (
    err instanceof FloeError &&
    (err.code === 'STARTUP' || err.code === 'RESOURCE_EXHAUSTED' || err.code === 'INVALID_ARGUMENT')
  )
    return err;
  return new FloeError('STARTUP', `starting function ${version.name}: ${(err as Error)?.message ?? err}`, {
    cause: err,
    fault: 'platform',
  });
}
