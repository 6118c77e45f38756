import { describe, expect, it } from 'vitest';
import { histogramQuantile, parsePromText } from './prom-text.js';

describe('parsePromText', () => {
  it('reads samples with labels and skips comments', () => {
    const s = parsePromText(
      '# HELP x y\nx_total{function_name="a.ns",code="200"} 3\nup 1\nq{l="a\\"b"} 2.5e0\n',
    );
    expect(s).toEqual([
      { name: 'x_total', labels: { function_name: 'a.ns', code: '200' }, value: 3 },
      { name: 'up', labels: {}, value: 1 },
      { name: 'q', labels: { l: 'a"b' }, value: 2.5 },
    ]);
  });
});

describe('histogramQuantile', () => {
  it('interpolates inside the bucket as Prometheus does, and is undefined with no samples', () => {
    const b = [
      { le: 0.1, count: 50 },
      { le: 0.2, count: 100 },
      { le: Number.POSITIVE_INFINITY, count: 100 },
    ];
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.75, b)).toBeCloseTo(0.15);
    expect(histogramQuantile(0.5, [{ le: 1, count: 0 }])).toBeUndefined();
  });
});
