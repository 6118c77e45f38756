import { FloeError, type FunctionVersion } from '@floe/contracts';
import type { Capacity } from './capacity.js';
import { functionKey, type Instance } from './instance.js';
import type { InstanceLifecycle } from './instance-lifecycle.js';
import type { Launcher, PoolOptions } from './pool.js';
import type { PoolRegistry } from './pool-registry.js';

const now = () => performance.now();

/**
 * The two ways a call gets a new instance of its function: specializing a frozen stemcell
 * (prewarm) or starting a container for it (cold). Either returns it `running` with one call
 * in flight, or destroys what it made and throws a startup error.
 */
export class InstanceStarter {
  constructor(
    private readonly registry: PoolRegistry,
    private readonly launcher: Launcher,
    private readonly opts: PoolOptions,
    private readonly lifecycle: InstanceLifecycle,
    private readonly capacity: Capacity,
  ) {}

  async specialize(inst: Instance, version: FunctionVersion): Promise<Instance> {
    const t0 = now();
    this.capacity.check(version.memoryBytes);
    inst.sm.transition('specializing');
    this.registry.bindVersion(inst, version);
    inst.inflight = 1;
    inst.lastUsed = Date.now();
    // From here it counts at the function's limit, not the frozen stemcell's usage: room is
    // made for it before it thaws.
    inst.reservedBytes = version.memoryBytes;
    try {
      await this.capacity.makeRoom(0, { exclude: inst });
      await inst.serialize(() => inst.backend.thaw());
      // The stemcell's generous limit becomes the function's own before its code runs (a cold
      // start's container is made, or its sandbox started, with that limit already).
      await inst.backend.setMemoryLimit(version.memoryBytes);
      await this.bindAndLoad(inst, version);
      inst.sm.transition('running');
      this.opts.events?.start?.('prewarm', version.runtime, now() - t0);
      return inst;
    } catch (err) {
      await this.lifecycle.destroy(inst);
      throw startupError(version, err);
    }
  }

  async cold(version: FunctionVersion): Promise<Instance> {
    const t0 = now();
    const key = functionKey(version.namespace, version.name);
    const reg = this.registry;
    // Counted before the first await, so concurrent calls see this start against the cap.
    reg.creatingByFn.set(key, (reg.creatingByFn.get(key) ?? 0) + 1);
    let inst: Instance | undefined;
    let reserved = false;
    try {
      await this.capacity.makeRoom(version.memoryBytes);
      reg.creatingBytes += version.memoryBytes;
      reserved = true;
      inst = await this.lifecycle.launch(version.runtime, version.memoryBytes, version);
      inst.sm.transition('specializing');
      reg.bindVersion(inst, version);
      inst.inflight = 1;
      await this.bindAndLoad(inst, version);
      inst.sm.transition('running');
      this.opts.events?.start?.('cold', version.runtime, now() - t0);
      return inst;
    } catch (err) {
      if (inst) await this.lifecycle.destroy(inst);
      throw startupError(version, err);
    } finally {
      if (reserved) reg.creatingBytes -= version.memoryBytes;
      reg.creatingByFn.set(key, (reg.creatingByFn.get(key) ?? 1) - 1);
    }
  }

  private async bindAndLoad(inst: Instance, version: FunctionVersion): Promise<void> {
    inst.reservedBytes = version.memoryBytes;
    const load = await this.launcher.bind(inst.id, version);
    await inst.channel.load({ name: version.name, ...load });
  }
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
