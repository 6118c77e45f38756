import { EventEmitter } from 'node:events';
import { FailedPreconditionError } from '@floe/contracts';

/** OCI container states. */
export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped' | 'deleted';

export const STATUSES: readonly ContainerStatus[] = [
  'creating',
  'created',
  'running',
  'paused',
  'stopped',
  'deleted',
];

/** Legal moves. `stopped` is reachable from every live state because a process can die anytime. */
export const TRANSITIONS: Readonly<Record<ContainerStatus, readonly ContainerStatus[]>> = {
  creating: ['created', 'stopped', 'deleted'],
  created: ['running', 'stopped', 'deleted'],
  running: ['paused', 'stopped'],
  paused: ['running', 'stopped'],
  stopped: ['deleted'],
  deleted: [],
};

export function canTransition(from: ContainerStatus, to: ContainerStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Guards, as youki's status predicates. */
export const can = {
  start: (s: ContainerStatus) => s === 'created',
  pause: (s: ContainerStatus) => s === 'running',
  resume: (s: ContainerStatus) => s === 'paused',
  kill: (s: ContainerStatus) => s === 'created' || s === 'running' || s === 'paused',
};

/**
 * The lifecycle state machine of one container. `transition(to)` is the only way to change
 * state: an illegal move throws `FailedPreconditionError`; a legal one emits
 * `transition(from, to)` synchronously.
 */
export class ContainerStateMachine extends EventEmitter {
  private current: ContainerStatus;

  constructor(
    readonly id: string,
    initial: ContainerStatus = 'creating',
  ) {
    super();
    this.current = initial;
  }

  get status(): ContainerStatus {
    return this.current;
  }

  transition(to: ContainerStatus): void {
    const from = this.current;
    if (!canTransition(from, to)) {
      throw new FailedPreconditionError(`container ${this.id}: cannot go from ${from} to ${to}`, {
        id: this.id,
        from,
        to,
      });
    }
    this.current = to;
    this.emit('transition', from, to);
  }
}
