import type { FunctionVersion, RuntimeName } from '@floe/contracts';
import { functionKey, type Instance } from './instance.js';

/**
 * The state every part of the pool shares: which instances exist, the per-function index the
 * invoke path looks up, and the memory and counts promised to containers still starting.
 */
export class PoolRegistry {
  readonly instances = new Map<string, Instance>();
  /** Live instances per function key (`ns/name`), the index the invoke path looks up. */
  readonly byFunction = new Map<string, Set<Instance>>();
  /** Memory promised to containers being created, not yet in `instances`. */
  creatingBytes = 0;
  readonly creatingByFn = new Map<string, number>();
  readonly creatingStemcells = new Map<RuntimeName, number>();
  closed = false;

  add(inst: Instance): void {
    this.instances.set(inst.id, inst);
  }

  bindVersion(inst: Instance, version: FunctionVersion): void {
    inst.version = version;
    const key = functionKey(version.namespace, version.name);
    let set = this.byFunction.get(key);
    if (!set) {
      set = new Set();
      this.byFunction.set(key, set);
    }
    set.add(inst);
  }

  remove(inst: Instance): void {
    this.instances.delete(inst.id);
    const set = inst.key ? this.byFunction.get(inst.key) : undefined;
    set?.delete(inst);
    if (set?.size === 0 && inst.key) this.byFunction.delete(inst.key);
  }

  findStemcell(runtime: RuntimeName): Instance | undefined {
    for (const i of this.instances.values()) if (i.state === 'stemcell' && i.runtime === runtime) return i;
    return undefined;
  }

  /**
   * Memory admitted against capacity: each live instance at its limit, except a frozen one
   * (paused or stemcell) whose usage was measured, at that usage; plus containers starting.
   */
  get usedBytes(): number {
    let used = this.creatingBytes;
    for (const i of this.instances.values()) if (i.live) used += chargedBytes(i);
    return used;
  }

  /** The sum of live instances' limits (and those starting): what the overcommit ratio caps. */
  get limitBytes(): number {
    let sum = this.creatingBytes;
    for (const i of this.instances.values()) if (i.live) sum += i.reservedBytes;
    return sum;
  }

  list(): Instance[] {
    return [...this.instances.values()];
  }

  summary() {
    const stemcells: Partial<Record<RuntimeName, number>> = {};
    const functions: Record<string, { instances: number; idle: number; inflight: number; ready: number }> =
      {};
    for (const i of this.instances.values()) {
      if (i.state === 'stemcell') stemcells[i.runtime] = (stemcells[i.runtime] ?? 0) + 1;
      const key = i.key;
      if (!key) continue;
      functions[key] ??= { instances: 0, idle: 0, inflight: 0, ready: 0 };
      const f = functions[key];
      f.instances++;
      if (i.state !== 'specializing' && i.live) f.ready++;
      f.inflight += i.inflight;
      if (i.inflight === 0 && (i.state === 'idle' || i.state === 'paused')) f.idle++;
    }
    return { stemcells, functions, usedBytes: this.usedBytes };
  }
}

/** What `inst` counts for against capacity now (see `usedBytes`). */
export function chargedBytes(inst: Instance): number {
  const frozen = inst.state === 'paused' || inst.state === 'stemcell';
  return frozen && inst.frozenBytes !== undefined
    ? Math.min(inst.frozenBytes, inst.reservedBytes)
    : inst.reservedBytes;
}
