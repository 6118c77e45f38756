import { parse } from '../argv.js';
import type { Context } from '../context.js';
import { apiError, EXIT } from '../errors.js';
import { table } from '../output.js';
import { histogramQuantile, type PromSample, parsePromText } from '../prom-text.js';
import { durationMs } from './deploy.js';

export const usage = `floe top [--interval 2s] [--once]
  Calls per second, p50/p99 and warm, pre-warm and cold starts per function, from the gateway's
  metrics, over each interval. --once (or --json) prints one interval and exits.`;

interface Row {
  name: string;
  rps: number;
  errors: number;
  p50?: number;
  p99?: number;
  warm: number;
  prewarm: number;
  cold: number;
}

async function sample(ctx: Context): Promise<PromSample[]> {
  const r = await ctx.client().request('GET', '/metrics');
  if (r.status >= 400) throw apiError(r.status, r.body);
  return parsePromText(r.body.toString('utf8'));
}

function sum(
  samples: PromSample[],
  name: string,
  fn: string,
  filter: (l: Record<string, string>) => boolean = () => true,
) {
  let n = 0;
  for (const s of samples)
    if (s.name === name && s.labels.function_name === fn && filter(s.labels)) n += s.value;
  return n;
}

/** Per-function figures between two scrapes taken `seconds` apart. */
export function diff(a: PromSample[], b: PromSample[], seconds: number): Row[] {
  const names = new Set(
    b.filter((s) => s.name === 'gateway_function_invocation_total').map((s) => s.labels.function_name!),
  );
  const rows: Row[] = [];
  for (const name of names) {
    const calls =
      sum(b, 'gateway_function_invocation_total', name) - sum(a, 'gateway_function_invocation_total', name);
    const bad = (l: Record<string, string>) => Number(l.code) >= 500;
    const errors =
      sum(b, 'gateway_function_invocation_total', name, bad) -
      sum(a, 'gateway_function_invocation_total', name, bad);
    const les = new Set(
      b
        .filter((s) => s.name === 'gateway_functions_seconds_bucket' && s.labels.function_name === name)
        .map((s) => s.labels.le!),
    );
    const buckets = [...les].map((le) => {
      const at = (l: Record<string, string>) => l.le === le;
      return {
        le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le),
        count:
          sum(b, 'gateway_functions_seconds_bucket', name, at) -
          sum(a, 'gateway_functions_seconds_bucket', name, at),
      };
    });
    const starts = (kind: string) => {
      const k = (l: Record<string, string>) => l.start === kind;
      return (
        sum(b, 'floe_gateway_function_starts_total', name, k) -
        sum(a, 'floe_gateway_function_starts_total', name, k)
      );
    };
    rows.push({
      name,
      rps: calls / seconds,
      errors,
      p50: histogramQuantile(0.5, buckets),
      p99: histogramQuantile(0.99, buckets),
      warm: starts('warm'),
      prewarm: starts('prewarm'),
      cold: starts('cold'),
    });
  }
  return rows.sort((x, y) => y.rps - x.rps || (x.name < y.name ? -1 : 1));
}

const ms = (s?: number) => (s === undefined ? '-' : `${(s * 1000).toFixed(1)}ms`);

export async function top(ctx: Context, args: string[]): Promise<number> {
  const { flags } = parse(args, { interval: { type: 'string' }, once: { type: 'boolean' } }, 'top');
  const interval = durationMs((flags.interval as string | undefined) ?? '2s', 'interval');
  const once = Boolean(flags.once) || ctx.o.json || !process.stdout.isTTY;
  let prev = await sample(ctx);
  let prevAt = performance.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, interval));
    const next = await sample(ctx);
    const now = performance.now();
    const rows = diff(prev, next, (now - prevAt) / 1000);
    prev = next;
    prevAt = now;
    if (ctx.o.json) ctx.o.out(`${JSON.stringify(rows)}\n`);
    else {
      const text = table(
        ['FUNCTION', 'CALLS/S', 'P50', 'P99', 'WARM', 'PREWARM', 'COLD', '5XX'],
        rows.map((r) => [
          r.name,
          r.rps.toFixed(1),
          ms(r.p50),
          ms(r.p99),
          String(r.warm),
          String(r.prewarm),
          String(r.cold),
          String(r.errors),
        ]),
      );
      ctx.o.out(
        once
          ? text
          : `\x1b[H\x1b[2J${new Date().toISOString()}  every ${interval / 1000}s  (Ctrl-C to quit)\n\n${text}`,
      );
    }
    if (once) break;
  }
  ctx.client().close();
  return EXIT.ok;
}
