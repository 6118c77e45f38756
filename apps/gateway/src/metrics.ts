import type { StartKind } from '@floe/contracts';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Replicas per `name.namespace`, as the scheduler reports them. */
export type ReplicaSource = () => Promise<Map<string, number>>;

const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

/**
 * Every gateway metric, built here and nowhere else, with the OpenFaaS gateway's names and
 * labels where they exist (function_name is `name.namespace`, as OpenFaaS writes it) and
 * Floe's own under `floe_gateway_`. Hot-path label children are cached: prom-client hashes
 * label values on every `labels()` call, and a warm invoke should not pay for that.
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  private readonly invocationTotal = new Counter({
    name: 'gateway_function_invocation_total',
    help: 'Function invocations by function and status code',
    labelNames: ['function_name', 'code'],
    registers: [this.registry],
  });
  private readonly functionSeconds = new Histogram({
    name: 'gateway_functions_seconds',
    help: 'Function invocation time, end to end through the gateway',
    labelNames: ['function_name', 'code'],
    registers: [this.registry],
  });
  private readonly invocationStarted = new Counter({
    name: 'gateway_function_invocation_started',
    help: 'Function invocations started',
    labelNames: ['function_name'],
    registers: [this.registry],
  });
  private readonly httpTotal = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by status code, method and route template',
    labelNames: ['code', 'method', 'path'],
    registers: [this.registry],
  });
  private readonly httpSeconds = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by status code, method and route template',
    labelNames: ['code', 'method', 'path'],
    registers: [this.registry],
  });
  private readonly overhead = new Histogram({
    name: 'floe_gateway_invoke_overhead_seconds',
    help: 'Platform time of a synchronous invocation: end to end minus time inside the function',
    labelNames: ['start'],
    buckets: OVERHEAD_BUCKETS,
    registers: [this.registry],
  });
  private readonly authFailures = new Counter({
    name: 'floe_gateway_auth_failures_total',
    help: 'Rejected Basic auth attempts on /system and /floe',
    registers: [this.registry],
  });
  private readonly starts = new Counter({
    name: 'floe_gateway_function_starts_total',
    help: 'Invocations by function and how their instance started (warm, prewarm, cold), as the X-Floe-Start header says',
    labelNames: ['function_name', 'start'],
    registers: [this.registry],
  });
  private readonly routes = new Counter({
    name: 'floe_gateway_invoke_route_total',
    help: 'Synchronous invocations by the way they went: direct (gateway to agent) or to the scheduler, and why',
    labelNames: ['route'],
    registers: [this.registry],
  });
  private readonly routeChildren = new Map<string, Counter>();
  private readonly inflight = new Gauge({
    name: 'floe_gateway_invocations_inflight',
    help: 'Invocations the gateway is waiting on',
    registers: [this.registry],
  });

  private readonly children = new Map<string, { total: Counter; seconds: Histogram }>();
  private readonly startChildren = new Map<string, Counter>();
  private readonly started = new Map<string, Counter>();
  private readonly http = new Map<string, { total: Counter; seconds: Histogram }>();

  /** A call went `route` (DirectInvoker's InvokeRoute). */
  routed(route: string): void {
    let c = this.routeChildren.get(route);
    if (!c) {
      c = this.routes.labels({ route }) as unknown as Counter;
      this.routeChildren.set(route, c);
    }
    c.inc();
  }

  constructor(replicas: ReplicaSource, opts: { defaultMetrics?: boolean; replicaCacheMs?: number } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    const cacheMs = opts.replicaCacheMs ?? 5000;
    let cached: { at: number; value: Map<string, number> } | undefined;
    new Gauge({
      name: 'gateway_service_count',
      help: 'Replicas per function, from the scheduler (refreshed on scrape, cached briefly)',
      labelNames: ['function_name'],
      registers: [this.registry],
      async collect() {
        if (!cached || Date.now() - cached.at > cacheMs) {
          try {
            cached = { at: Date.now(), value: await replicas() };
          } catch {
            // A scrape while the scheduler is away keeps the last known counts rather than failing.
            if (!cached) return;
          }
        }
        this.reset();
        for (const [fn, n] of cached.value) this.labels(fn).set(n);
      },
    });
  }

  /** An invocation of `fn` (`name.namespace`) begins. */
  invocationBegan(fn: string): void {
    let c = this.started.get(fn);
    if (!c) {
      c = this.invocationStarted.labels(fn) as unknown as Counter;
      this.started.set(fn, c);
    }
    c.inc();
    this.inflight.inc();
  }

  /** It ended with `status` after `seconds`; `functionSeconds` is the time inside the function, if it ran. */
  invocationEnded(
    fn: string,
    status: number,
    seconds: number,
    start?: StartKind,
    functionSeconds?: number,
  ): void {
    this.inflight.dec();
    const key = `${fn} ${status}`;
    let c = this.children.get(key);
    if (!c) {
      const code = String(status);
      c = {
        total: this.invocationTotal.labels(fn, code) as unknown as Counter,
        seconds: this.functionSeconds.labels(fn, code) as unknown as Histogram,
      };
      this.children.set(key, c);
    }
    c.total.inc();
    c.seconds.observe(seconds);
    if (start !== undefined) {
      const sk = `${fn} ${start}`;
      let s = this.startChildren.get(sk);
      if (!s) {
        s = this.starts.labels(fn, start) as unknown as Counter;
        this.startChildren.set(sk, s);
      }
      s.inc();
    }
    if (start !== undefined && functionSeconds !== undefined)
      this.overhead.labels(start).observe(Math.max(0, seconds - functionSeconds));
  }

  /** An invocation that never reached a function (unknown name): no per-function series, to bound cardinality. */
  invocationAbandoned(): void {
    this.inflight.dec();
  }

  httpRequest(code: number, method: string, path: string, seconds: number): void {
    const key = `${code} ${method} ${path}`;
    let c = this.http.get(key);
    if (!c) {
      const labels = [String(code), method, path];
      c = {
        total: this.httpTotal.labels(...labels) as unknown as Counter,
        seconds: this.httpSeconds.labels(...labels) as unknown as Histogram,
      };
      this.http.set(key, c);
    }
    c.total.inc();
    c.seconds.observe(seconds);
  }

  authFailure(): void {
    this.authFailures.inc();
  }

  contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
