import { describe, expect, it } from 'vitest';
import { type ScaleInCandidate, surplusInstances } from './scale-in.js';

const inst = (
  id: string,
  lastUsed: number,
  over: Partial<ScaleInCandidate> = {},
): ScaleInCandidate & { id: string } => ({
  id,
  state: 'paused',
  live: true,
  inflight: 0,
  lastUsed,
  ...over,
});

describe(surplusInstances.name, () => {
  it('picks the least recently used idle instances beyond keep', () => {
    const all = [inst('a', 300), inst('b', 100), inst('c', 200, { state: 'idle' })];
    expect(surplusInstances(all, 1, 0, 1000).map((i) => i.id)).toEqual(['b', 'c']);
  });

  it('never picks a busy, recently used or starting instance, even if more than keep remain', () => {
    const all = [
      inst('busy', 0, { state: 'running', inflight: 1 }),
      inst('recent', 950),
      inst('starting', 0, { state: 'specializing' }),
      inst('old', 0),
    ];
    expect(surplusInstances(all, 1, 100, 1000).map((i) => i.id)).toEqual(['old']);
  });

  it('picks nothing when no more than keep are live', () => {
    const all = [inst('a', 0), inst('gone', 0, { live: false, state: 'destroyed' })];
    expect(surplusInstances(all, 1, 0, 1000)).toEqual([]);
  });
});
