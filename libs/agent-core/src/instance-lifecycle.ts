import { FloeError, type FunctionVersion, type RuntimeName } from '@floe/contracts';
import type { Freezer } from './freezer.js';
import { type ExitReason, Instance } from './instance.js';
import type { KeepAlivePolicy } from './keep-alive.js';
import type { Launcher, PoolOptions } from './pool.js';
import type { PoolRegistry } from './pool-registry.js';

/**
 * Creates and destroys the pool's containers: a launched instance gets its per-state timers
 * (pause grace on `idle`, keep-alive on `paused`) and leaves the pool when its process dies.
 */
export class InstanceLifecycle {
  private seq = 0;
  /** Containers being started, so shutdown can wait for them and tear them down too. */
  private readonly launches = new Set<Promise<unknown>>();

  constructor(
    private readonly registry: PoolRegistry,
    private readonly launcher: Launcher,
    private readonly opts: PoolOptions,
    private readonly idPrefix: string,
    private readonly freezer: Freezer,
    /** Called when an unbound (stemcell) instance is gone, so the stock can be topped up. */
    private readonly onStemcellGone: () => void,
    private readonly keepAlive?: KeepAlivePolicy,
  ) {}

  async launch(runtime: RuntimeName, memoryBytes: number, version?: FunctionVersion): Promise<Instance> {
    // Tracked whole, teardown-at-shutdown included: waiting only for the launcher let the
    // agent exit while a container that finished starting during shutdown was still being
    // destroyed, leaving its cgroups and code mount behind.
    const launching = this.start(runtime, memoryBytes, version);
    this.launches.add(launching);
    try {
      return await launching;
    } finally {
      this.launches.delete(launching);
    }
  }

  private async start(
    runtime: RuntimeName,
    memoryBytes: number,
    version?: FunctionVersion,
  ): Promise<Instance> {
    const want = `${this.idPrefix}-${runtime}-${(++this.seq).toString(36)}-${Date.now().toString(36)}`;
    const { backend, channel } = await this.launcher.launch({ id: want, runtime, memoryBytes, version });
    // A launcher that started a prepared sandbox answers with that sandbox's id.
    const id = backend.id;
    if (this.registry.closed) {
      // Shutdown began while this container was starting: it must not outlive the agent.
      channel.close();
      await backend.destroy().catch(() => {});
      await this.launcher.release(id).catch(() => {});
      throw new FloeError('UNAVAILABLE', 'agent is shutting down');
    }
    const inst = new Instance(id, runtime, backend, channel, memoryBytes);
    inst.sm
      .timerFor('idle', this.opts.pauseGraceMs, () => void this.freezer.pause(inst))
      // Each pause arms the keep-alive the policy chooses for the function now (keep-alive.ts).
      .timerFor(
        'paused',
        () => this.keepAliveMs(inst),
        () => {
          if (!inst.live || inst.inflight > 0) return;
          this.opts.events?.evict?.('keep_alive', inst);
          void this.destroy(inst);
        },
      )
      .onTransition((from, to) => {
        this.opts.events?.transition?.(inst, from, to);
        if (to === 'paused') this.freezer.scheduleReclaim(inst);
        else if (from === 'paused') this.freezer.cancelReclaim(inst);
        // Thawed (or specialized), it counts at its limit again until measured frozen anew.
        if (from === 'paused' || from === 'stemcell') inst.frozenBytes = undefined;
      });
    this.registry.add(inst);
    // An instance that dies on its own (crash, OOM outside a call) leaves the pool at once.
    backend.exited.then((exit) => {
      if (!inst.live) return;
      if (inst.inflight === 0) this.opts.events?.failure?.(inst.key ?? '', exitKind(exit));
      void this.destroy(inst);
    });
    return inst;
  }

  private keepAliveMs(inst: Instance): number {
    if (!this.keepAlive || !inst.key) return this.opts.keepAliveMs;
    const choice = this.keepAlive.keepAlive(inst.key);
    this.opts.events?.keepAlive?.(choice, inst);
    return choice.ms;
  }

  async destroy(inst: Instance, reason?: 'timeout'): Promise<void> {
    if (!inst.live) return;
    inst.sm.transition('destroying');
    this.registry.remove(inst);
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
    if (inst.state === 'destroyed' && !this.registry.closed && inst.runtime !== 'image' && !inst.version)
      this.onStemcellGone();
  }

  /** At shutdown (`registry.closed` already set): waits out launches, then destroys everything. */
  async destroyAll(): Promise<void> {
    await Promise.allSettled([...this.launches]);
    await Promise.all([...this.registry.instances.values()].map((i) => this.destroy(i)));
  }
}

function exitKind(e: ExitReason): 'oom' | 'timeout' | 'crash' {
  return e.reason === 'OOMKilled' ? 'oom' : e.reason === 'timeout' ? 'timeout' : 'crash';
}
