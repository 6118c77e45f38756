import type { RuntimeName } from '@floe/contracts';
import type { Capacity } from './capacity.js';
import { measureFrozen } from './freezer.js';
import type { InstanceLifecycle } from './instance-lifecycle.js';
import type { PoolOptions } from './pool.js';
import type { PoolRegistry } from './pool-registry.js';

const STEMCELL_RUNTIMES: RuntimeName[] = ['node', 'python', 'exec'];
const now = () => performance.now();

/** Keeps each runtime's stock of frozen, unbound stemcells at its target. */
export class Stemcells {
  private refillPending = false;

  constructor(
    private readonly registry: PoolRegistry,
    private readonly lifecycle: InstanceLifecycle,
    private readonly opts: PoolOptions,
    private readonly capacity: Capacity,
  ) {}

  setTargets(targets: Partial<Record<RuntimeName, number>>): void {
    Object.assign(this.opts.stemcells, targets);
    this.scheduleRefill();
  }

  scheduleRefill(): void {
    if (this.refillPending || this.registry.closed) return;
    this.refillPending = true;
    setTimeout(() => {
      this.refillPending = false;
      void this.refill();
    }, 0).unref();
  }

  /** Tops stemcells up to their targets, without ever evicting a warm instance for one. */
  async refill(): Promise<void> {
    const reg = this.registry;
    for (const runtime of STEMCELL_RUNTIMES) {
      const want = this.opts.stemcells[runtime] ?? 0;
      const have = () =>
        [...reg.instances.values()].filter((i) => i.state === 'stemcell' && i.runtime === runtime).length +
        (reg.creatingStemcells.get(runtime) ?? 0);
      while (!reg.closed && have() < want && this.capacity.fits(this.opts.stemcellBytes)) {
        reg.creatingStemcells.set(runtime, (reg.creatingStemcells.get(runtime) ?? 0) + 1);
        reg.creatingBytes += this.opts.stemcellBytes;
        try {
          const inst = await this.lifecycle.launch(runtime, this.opts.stemcellBytes);
          reg.creatingBytes -= this.opts.stemcellBytes;
          reg.creatingStemcells.set(runtime, (reg.creatingStemcells.get(runtime) ?? 1) - 1);
          const t0 = now();
          await inst.serialize(() => inst.backend.freeze());
          this.opts.events?.freeze?.(now() - t0);
          if (inst.state === 'creating') {
            inst.sm.transition('stemcell');
            await measureFrozen(inst);
          }
        } catch (err) {
          reg.creatingBytes -= this.opts.stemcellBytes;
          reg.creatingStemcells.set(runtime, (reg.creatingStemcells.get(runtime) ?? 1) - 1);
          this.opts.events?.error?.(`starting a ${runtime} stemcell`, err);
          break;
        }
      }
    }
  }
}
