import { describe, expect, it } from 'vitest';
import { scaleInTargets } from './scale-in.js';

describe(scaleInTargets.name, () => {
  it('takes the surplus from the agents holding the most, one at a time', () => {
    const t = scaleInTargets(
      [
        { id: 'a', instances: 4 },
        { id: 'b', instances: 2 },
        { id: 'c', instances: 0 },
      ],
      3,
    );
    // 6 down to 3: a 4→3→2, then a tie at 2 and 2 is taken from the first.
    expect([...t]).toEqual([['a', 1]]);
  });

  it('asks nothing when there is no surplus', () => {
    expect(scaleInTargets([{ id: 'a', instances: 2 }], 2).size).toBe(0);
  });
});
