import type { AgentInfo } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { imageInventory } from './image-inventory.js';

const D = `sha256:${'b'.repeat(64)}`;
const agent = (id: string, images: AgentInfo['images']) => ({ id, images }) as AgentInfo;

describe('imageInventory', () => {
  it('merges agents by digest, says where each image is and where it is being pulled', () => {
    const rows = imageInventory(
      [
        agent('a1', [{ refs: ['r/x:1', `r/x@${D}`], digest: D, size: 10, state: 'present' }]),
        agent('a2', [
          { refs: ['r/x:1'], digest: D, size: 10, state: 'present' },
          { refs: ['r/y:2'], digest: 'r/y:2', size: 0, state: 'pulling' },
        ]),
      ],
      new Map([['up/z:1', { pinned: `reg:5000/up/z@${D.replace('b', 'c')}` }]]),
    );
    expect(rows).toEqual([
      { ref: 'r/x:1', refs: ['r/x:1', `r/x@${D}`], digest: D, size: 10, present: ['a1', 'a2'], pulling: [] },
      { ref: 'r/y:2', refs: ['r/y:2'], digest: 'r/y:2', size: 0, present: [], pulling: ['a2'] },
      { ref: 'up/z:1', refs: ['up/z:1'], digest: D.replace('b', 'c'), size: 0, present: [], pulling: [] },
    ]);
  });
});
