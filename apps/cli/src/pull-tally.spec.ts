import { describe, expect, it } from 'vitest';
import { PullTally } from './pull-tally.js';

describe('PullTally', () => {
  it('sums the latest bytes of each layer on each agent, of size × agents', () => {
    const t = new PullTally();
    t.add({
      type: 'resolved',
      image: 'r/a:1',
      pinned: 'r/a@sha256:x',
      digest: 'sha256:x',
      size: 100,
      layers: [
        { digest: 'l1', size: 60 },
        { digest: 'l2', size: 40 },
      ],
      agents: ['a1', 'a2'],
    });
    expect(t.total).toBe(200);
    const layer = (agent: string, digest: string, size: number, bytes: number) =>
      t.add({ type: 'layer', agent, digest, size, bytes, done: 0, total: 100 });
    layer('a1', 'l1', 60, 30);
    layer('a1', 'l1', 60, 60);
    layer('a2', 'l1', 60, 60);
    expect(layer('a2', 'l2', 40, 10)).toBe(130);
  });
});
