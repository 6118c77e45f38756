import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastHistogram } from './fast-histogram.js';

describe(FastHistogram.name, () => {
  it("exposes the same text as prom-client's Histogram for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const buckets = [0.001, 0.01, 0.1];
    const fast = new FastHistogram('h', 'help text', buckets, [ours]);
    const ref = new Histogram({
      name: 'h',
      help: 'help text',
      labelNames: ['f', 'start'],
      buckets,
      registers: [theirs],
    });
    const series = fast.labels({ f: 'a.ns', start: 'warm' });
    for (const v of [0.0005, 0.001, 0.002, 0.05, 3]) {
      series.observe(v);
      ref.observe({ f: 'a.ns', start: 'warm' }, v);
    }
    fast.labels({ f: 'b.ns', start: 'cold' }).observe(0.02);
    ref.observe({ f: 'b.ns', start: 'cold' }, 0.02);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('hands out one series per label set, whatever the key order', () => {
    const h = new FastHistogram('h2', 'x', [1], []);
    expect(h.labels({ a: '1', b: '2' })).toBe(h.labels({ b: '2', a: '1' }));
  });
});
