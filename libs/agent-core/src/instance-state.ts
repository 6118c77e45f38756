import { FailedPreconditionError } from '@floe/contracts';

/**
 * An instance's life, in the manner of OpenWhisk's ContainerProxy:
 *
 *   creating ─▶ stemcell (runtime up, no function, frozen) ─▶ specializing ─▶ idle
 *   creating ─▶ specializing (a cold start binds at once)
 *   idle ⇄ running;  idle ─▶ pausing ─▶ paused (frozen) ─▶ resuming ─▶ running | idle
 *   any live state ─▶ destroying ─▶ destroyed
 *
 * `pausing` and `resuming` are transitional: a call that arrives then is queued, not dropped.
 * Timers belong to states: entering `idle` arms the pause grace, entering `paused` arms the
 * keep-alive expiry; leaving a state disarms its timer.
 */
export type InstanceState =
  | 'creating'
  | 'stemcell'
  | 'specializing'
  | 'idle'
  | 'running'
  | 'pausing'
  | 'paused'
  | 'resuming'
  | 'destroying'
  | 'destroyed';

export const INSTANCE_STATES: readonly InstanceState[] = [
  'creating',
  'stemcell',
  'specializing',
  'idle',
  'running',
  'pausing',
  'paused',
  'resuming',
  'destroying',
  'destroyed',
];

const TRANSITIONS: Record<InstanceState, readonly InstanceState[]> = {
  creating: ['stemcell', 'specializing', 'destroying'],
  stemcell: ['specializing', 'destroying'],
  specializing: ['idle', 'running', 'destroying'],
  idle: ['running', 'pausing', 'destroying'],
  running: ['idle', 'destroying'],
  pausing: ['paused', 'idle', 'destroying'],
  paused: ['resuming', 'destroying'],
  resuming: ['running', 'idle', 'destroying'],
  destroying: ['destroyed'],
  destroyed: [],
};

export function canTransition(from: InstanceState, to: InstanceState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Bound to a function and able to take a call now or after a thaw. */
export function isWarm(s: InstanceState): boolean {
  return s === 'idle' || s === 'paused' || s === 'pausing' || s === 'resuming';
}

export function isFrozen(s: InstanceState): boolean {
  return s === 'paused' || s === 'stemcell';
}

export function isLive(s: InstanceState): boolean {
  return s !== 'destroying' && s !== 'destroyed';
}

export class IllegalTransitionError extends FailedPreconditionError {
  constructor(id: string, from: InstanceState, to: InstanceState) {
    super(`instance ${id}: illegal transition ${from} → ${to}`, { from, to });
  }
}

type Listener = (from: InstanceState, to: InstanceState) => void;

/** One instance's state with its transition table, per-state timers and listeners. */
export class InstanceStateMachine {
  private current: InstanceState = 'creating';
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
  private readonly listeners: Listener[] = [];
  private readonly enterTimers = new Map<InstanceState, { ms: number | (() => number); fire: () => void }>();

  constructor(readonly id: string) {}

  get state(): InstanceState {
    return this.current;
  }

  /** Arms `fire` after `ms` (or what `ms()` answers then) each time the machine enters `state`. */
  timerFor(state: InstanceState, ms: number | (() => number), fire: () => void): this {
    this.enterTimers.set(state, { ms, fire });
    return this;
  }

  onTransition(fn: Listener): this {
    this.listeners.push(fn);
    return this;
  }

  transition(to: InstanceState): void {
    const from = this.current;
    if (!canTransition(from, to)) throw new IllegalTransitionError(this.id, from, to);
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.current = to;
    const t = this.enterTimers.get(to);
    const ms = typeof t?.ms === 'function' ? t.ms() : t?.ms;
    if (t && ms === 0) {
      // Zero means once this turn of the event loop is done (a reply in flight is written
      // first), not the ≥1 ms a zero setTimeout waits, idling the CPU in between.
      this.immediate = setImmediate(t.fire);
    } else if (t) {
      this.timer = setTimeout(t.fire, ms);
      this.timer.unref();
    }
    for (const fn of this.listeners) fn(from, to);
  }
}
