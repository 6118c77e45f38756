import { FloeError, type FunctionVersion, type RuntimeName } from '@floe/contracts';
import type { ChannelRequest, ChannelResponse, InstanceChannel } from './instance-channel.js';
import { type InstanceState, InstanceStateMachine, isLive } from './instance-state.js';

/** Why an instance's process ended, as the runtime reports it. */
export type ExitReason =
  | { reason: 'exited'; code: number }
  | { reason: 'signaled'; signal: number | string }
  | { reason: 'OOMKilled' }
  | { reason: 'timeout' };

/** What the pool needs of a running container; the real one wraps libs/runtime. */
export interface InstanceBackend {
  readonly id: string;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** `thaw` within the call, when the backend can: the invoke path then needs no promise. */
  thawSync?(): void;
  /** Kills every process and removes the container; idempotent. */
  destroy(reason?: 'timeout'): Promise<void>;
  /** Settles once, when the container's init exits. */
  readonly exited: Promise<ExitReason>;
  memoryUsage(): Promise<{ bytes: number; peakBytes: number; nrThrottled: number; oomKills: number }>;
  setMemoryLimit(bytes: number | 'max'): Promise<void>;
  /** Gives back reclaimable memory of a frozen instance (OpenLambda-style); best effort. */
  reclaim?(): Promise<void>;
  /** Undoes `reclaim` before a thaw. */
  restore?(): Promise<void>;
}

export function describeExit(e: ExitReason, memoryBytes: number): string {
  switch (e.reason) {
    case 'OOMKilled':
      return `OOMKilled (memory limit ${Math.round(memoryBytes / 1024 / 1024)}Mi)`;
    case 'exited':
      return `exited with code ${e.code}`;
    case 'signaled':
      return `killed by signal ${e.signal}`;
    case 'timeout':
      return 'killed after its timeout';
  }
}

/**
 * One container and its runtime process, bound to at most one function version. The pool
 * drives it through the state machine; this class keeps the per-instance facts.
 */
export class Instance {
  readonly sm: InstanceStateMachine;
  version?: FunctionVersion;
  inflight = 0;
  lastUsed = Date.now();
  /** Memory reserved against the agent's capacity: its cgroup limit. */
  reservedBytes: number;
  /**
   * Its cgroup's usage, measured once frozen: a frozen instance cannot grow, so admission
   * counts it at this rather than at its limit (see capacity.ts). Unset until measured.
   */
  frozenBytes?: number;
  /** When `frozenBytes` was last read (epoch ms), so a hot loop is not measured every call. */
  measuredAt?: number;
  /** Set while the memory limit is lowered for a frozen instance, to restore on thaw. */
  reclaimed = false;
  /** The cgroup's OOM-kill count last seen, to spot a per-request process killed by OOM. */
  oomKills?: number;
  /** A chain that serializes freeze/thaw so a call during `pausing` waits, not fails. */
  private chain: Promise<void> = Promise.resolve();
  /** Steps on `chain` not yet settled. */
  private ops = 0;

  constructor(
    readonly id: string,
    readonly runtime: RuntimeName,
    readonly backend: InstanceBackend,
    readonly channel: InstanceChannel,
    reservedBytes: number,
  ) {
    this.sm = new InstanceStateMachine(id);
    this.reservedBytes = reservedBytes;
  }

  get state(): InstanceState {
    return this.sm.state;
  }

  get key(): string | undefined {
    return this.version ? functionKey(this.version.namespace, this.version.name) : undefined;
  }

  get live(): boolean {
    return isLive(this.sm.state);
  }

  /** No freeze or thaw is in progress or queued. */
  get settled(): boolean {
    return this.ops === 0;
  }

  /**
   * Runs `step` after any freeze/thaw in progress; with none, in this turn: a thaw's write then
   * lands right after the call's request was queued, not a microtask later.
   */
  serialize<T>(step: () => Promise<T>): Promise<T> {
    const idle = this.ops === 0;
    this.ops++;
    let next: Promise<T>;
    try {
      next = idle ? step() : this.chain.then(step, step);
    } catch (err) {
      next = Promise.reject(err); // a step that throws before its first await still settles
    }
    const settled = () => {
      this.ops--;
    };
    this.chain = next.then(settled, settled);
    return next;
  }

  call(req: ChannelRequest, body: Buffer): Promise<ChannelResponse> {
    if (!this.live)
      return Promise.reject(new FloeError('UNAVAILABLE', `instance ${this.id} is ${this.state}`));
    return this.channel.invoke(req, body);
  }
}

export function functionKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
