import type { LayerProgress } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { throttleLayers } from './layer-progress.js';

describe('throttleLayers', () => {
  it('passes each layer’s first and last report, and the ones between at most once per interval', () => {
    let t = 0;
    const sent: LayerProgress[] = [];
    const emit = throttleLayers(
      (p) => sent.push(p),
      100,
      () => t,
    );
    emit({ digest: 'a', size: 10, bytes: 0 });
    emit({ digest: 'b', size: 10, bytes: 0 });
    t = 50;
    emit({ digest: 'a', size: 10, bytes: 3 });
    t = 120;
    emit({ digest: 'a', size: 10, bytes: 6 });
    t = 130;
    emit({ digest: 'a', size: 10, bytes: 8 });
    emit({ digest: 'a', size: 10, bytes: 10 });
    expect(sent.map((p) => `${p.digest}:${p.bytes}`)).toEqual(['a:0', 'b:0', 'a:6', 'a:10']);
  });
});
