import type { Registry } from 'prom-client';

/** What a Registry needs of a metric: the shape prom-client's own `get()` returns. */
interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

/** One label set's counts; `observe` is all the invoke path pays. */
export class HistogramSeries {
  sum = 0;
  count = 0;
  readonly counts: Float64Array;

  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > (b[i] as number)) i++;
    (this.counts as Float64Array)[i]++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A Prometheus histogram for the per-call timings (thaw, freeze, invocation). prom-client's
 * observe validates and hashes the label set on every call, ~1 µs each here, three times per
 * warm call; a series is looked up once and then costs a bucket scan and two adds. The
 * exposition is the same: cumulative `_bucket{le}`, `_sum`, `_count`.
 */
export class FastHistogram {
  readonly type = 'histogram';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registers: Registry[],
  ) {
    for (const r of registers) r.registerMetric(this as never);
  }

  /** The series for these label values; keep it and call `observe` on it. */
  labels(labels: Record<string, string> = {}): HistogramSeries {
    const key = Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`)
      .join(',');
    let s = this.series.get(key);
    if (!s) {
      s = new HistogramSeries(labels, this.buckets);
      this.series.set(key, s);
    }
    return s;
  }

  get(): { name: string; help: string; type: string; values: MetricValue[]; aggregator: string } {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += s.counts[i] as number;
        values.push({ value: acc, labels: { le, ...s.labels }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: s.count, labels: { le: '+Inf', ...s.labels }, metricName: `${this.name}_bucket` });
      values.push({ value: s.sum, labels: s.labels, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: s.labels, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  reset(): void {
    this.series.clear();
  }
}
