import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  canTransition,
  IllegalTransitionError,
  INSTANCE_STATES,
  type InstanceState,
  InstanceStateMachine,
} from './instance-state.js';

const LEGAL: Record<InstanceState, InstanceState[]> = {
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

describe(InstanceStateMachine.name, () => {
  afterEach(() => vi.useRealTimers());

  describe('every state × every target', () => {
    for (const from of INSTANCE_STATES) {
      for (const to of INSTANCE_STATES) {
        const legal = LEGAL[from].includes(to);
        it(`${from} → ${to} is ${legal ? 'legal' : 'rejected'}`, () =>
          expect(canTransition(from, to)).toBe(legal));
      }
    }
  });

  it('rejects an illegal move with a typed error and keeps its state', () => {
    const m = new InstanceStateMachine('i1');
    expect(() => m.transition('paused')).toThrow(IllegalTransitionError);
    expect(m.state).toBe('creating');
  });

  it('emits each transition', () => {
    const seen: string[] = [];
    const m = new InstanceStateMachine('i2').onTransition((a, b) => seen.push(`${a}>${b}`));
    m.transition('specializing');
    m.transition('idle');
    expect(seen).toEqual(['creating>specializing', 'specializing>idle']);
  });

  it('arms a timer on entering a state and disarms it on leaving', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const m = new InstanceStateMachine('i3').timerFor('idle', 50, fired);
    m.transition('specializing');
    m.transition('idle');
    vi.advanceTimersByTime(49);
    m.transition('running');
    vi.advanceTimersByTime(100);
    expect(fired).not.toHaveBeenCalled();
    m.transition('idle');
    vi.advanceTimersByTime(50);
    expect(fired).toHaveBeenCalledOnce();
  });

  it('fires a zero-length timer once the current turn is done, and not after leaving the state', async () => {
    const fired = vi.fn();
    const m = new InstanceStateMachine('i4').timerFor('idle', 0, fired);
    m.transition('specializing');
    m.transition('idle');
    expect(fired).not.toHaveBeenCalled();
    await new Promise((r) => setImmediate(r));
    expect(fired).toHaveBeenCalledOnce();
    m.transition('running');
    m.transition('idle');
    m.transition('running');
    await new Promise((r) => setImmediate(r));
    expect(fired).toHaveBeenCalledOnce();
  });
});
