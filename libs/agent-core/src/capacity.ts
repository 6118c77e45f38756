import { FloeError } from '@floe/contracts';
import type { Instance } from './instance.js';
import type { PoolOptions } from './pool.js';
import type { PoolRegistry } from './pool-registry.js';

/** Keeps the agent's containers within its memory capacity by LRU eviction. */
export class Capacity {
  constructor(
    private readonly registry: PoolRegistry,
    private readonly opts: PoolOptions,
    private readonly destroy: (inst: Instance) => Promise<void>,
  ) {}

  /** Evicts until `bytes` more fit, or fails: never evicts an instance that is busy. */
  async makeRoom(bytes: number): Promise<void> {
    if (bytes > this.opts.capacityBytes) {
      throw new FloeError(
        'INVALID_ARGUMENT',
        `memory ${bytes} exceeds this agent's capacity ${this.opts.capacityBytes}`,
        { fault: 'user' },
      );
    }
    while (this.registry.usedBytes + bytes > this.opts.capacityBytes) {
      // LRU: paused instances first, then stemcells; never one that is busy.
      const victims = [...this.registry.instances.values()]
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
}

function rank(i: Instance): number {
  return i.state === 'stemcell' ? 1 : 0;
}
