import type { PullHooks } from '@floe/overlay-snapshots';
import { Counter, register as defaultRegistry, Histogram, type Registry } from 'prom-client';

const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * `floe_image_pull_seconds{result}` and `floe_image_pull_bytes_total`, shared by every layer
 * store in the process (a registry holds one metric per name), plus the pull log lines.
 */
export function pullHooks(log: (line: string) => void, registry: Registry = defaultRegistry): PullHooks {
  const seconds =
    (registry.getSingleMetric('floe_image_pull_seconds') as Histogram<'result'> | undefined) ??
    new Histogram({
      name: 'floe_image_pull_seconds',
      help: 'Image pulls from registries by result (ok, error)',
      labelNames: ['result'],
      buckets: BUCKETS,
      registers: [registry],
    });
  const bytes =
    (registry.getSingleMetric('floe_image_pull_bytes_total') as Counter | undefined) ??
    new Counter({
      name: 'floe_image_pull_bytes_total',
      help: 'Layer bytes downloaded from registries',
      registers: [registry],
    });
  return {
    log,
    observe: (result, s) => seconds.observe({ result }, s),
    bytes: (n) => bytes.inc(n),
  };
}
