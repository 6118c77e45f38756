import { FailedPreconditionError } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { ContainerStateMachine, type ContainerStatus, STATUSES, TRANSITIONS } from './container-state.js';

const LEGAL: [ContainerStatus, ContainerStatus][] = [
  ['creating', 'created'],
  ['creating', 'stopped'],
  ['creating', 'deleted'],
  ['created', 'running'],
  ['created', 'stopped'],
  ['created', 'deleted'],
  ['running', 'paused'],
  ['running', 'stopped'],
  ['paused', 'running'],
  ['paused', 'stopped'],
  ['stopped', 'deleted'],
];

describe(ContainerStateMachine.name, () => {
  const cases = STATUSES.flatMap((from) => STATUSES.map((to) => [from, to] as const));
  it.each(cases)('%s -> %s', (from, to) => {
    const m = new ContainerStateMachine('x', from);
    const events: unknown[] = [];
    m.on('transition', (...a) => events.push(a));
    const legal = LEGAL.some(([f, t]) => f === from && t === to);
    if (legal) {
      m.transition(to);
      expect(m.status).toBe(to);
      expect(events).toEqual([[from, to]]);
    } else {
      expect(() => m.transition(to)).toThrow(FailedPreconditionError);
      expect(m.status).toBe(from);
      expect(events).toEqual([]);
    }
  });

  it('table matches the documented legal moves', () => {
    const table = Object.entries(TRANSITIONS).flatMap(([f, ts]) => ts.map((t) => [f, t]));
    expect(table.sort()).toEqual([...LEGAL].sort());
  });
});
