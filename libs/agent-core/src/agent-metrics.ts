import type { FunctionVersion, StartKind } from '@floe/contracts';
import { Counter, register as defaultRegistry, Gauge, Histogram, type Registry } from 'prom-client';
import { FastHistogram, type HistogramSeries } from './fast-histogram.js';
import type { Pool, PoolEvents } from './pool.js';

const LATENCY = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/**
 * Every node-agent metric, built in one place with stable names and low-cardinality labels
 * (function_name is `name.namespace`, as OpenFaaS writes it).
 */
export class AgentMetrics {
  readonly containers: Gauge<'state' | 'runtime'>;
  readonly starts: Counter<'kind' | 'runtime'>;
  readonly startSeconds: Histogram<'kind' | 'runtime'>;
  readonly freezeSeconds: HistogramSeries;
  readonly thawSeconds: HistogramSeries;
  readonly invocationSeconds: FastHistogram;
  readonly failures: Counter<'function_name' | 'kind'>;
  readonly memoryBytes: Gauge<'function_name'>;
  readonly throttled: Gauge<'function_name'>;
  readonly capacityBytes: Gauge;
  readonly usedBytes: Gauge;
  readonly heartbeats: Counter<'result'>;
  readonly evictions: Counter<'reason'>;
  readonly keepAliveSeconds: Histogram<'policy'>;
  readonly limitBytes: Gauge;
  readonly evictableBytes: Gauge;
  private readonly invocationChildren = new Map<string, Partial<Record<StartKind, HistogramSeries>>>();

  /** Prepared sandboxes ready per runtime; set by the agent once its launcher exists. */
  sandboxes: () => Record<string, number> = () => ({});

  constructor(pool: () => Pool | undefined, registry: Registry = defaultRegistry) {
    const registers = [registry];
    const sandboxes = () => this.sandboxes();
    this.containers = new Gauge({
      name: 'floe_agent_containers',
      help: 'Containers on this agent by pool state and runtime',
      labelNames: ['state', 'runtime'],
      registers,
      collect() {
        this.reset();
        for (const i of pool()?.list() ?? []) this.inc({ state: i.state, runtime: i.runtime });
        // Prepared sandboxes (sandboxes.ts) are containers too, with no runtime started yet.
        for (const [runtime, n] of Object.entries(sandboxes())) this.set({ state: 'sandbox', runtime }, n);
      },
    });
    this.starts = new Counter({
      name: 'floe_agent_starts_total',
      help: 'Instance starts by kind (warm, prewarm, cold)',
      labelNames: ['kind', 'runtime'],
      registers,
    });
    this.startSeconds = new Histogram({
      name: 'floe_agent_start_duration_seconds',
      help: 'Time to get an instance ready for a call, by start kind',
      labelNames: ['kind', 'runtime'],
      buckets: LATENCY,
      registers,
    });
    // Observed on every warm call: FastHistogram, not prom-client's (see fast-histogram.ts).
    this.freezeSeconds = new FastHistogram(
      'floe_agent_freeze_duration_seconds',
      'cgroup freeze until the kernel reports frozen',
      LATENCY,
      registers,
    ).labels();
    this.thawSeconds = new FastHistogram(
      'floe_agent_thaw_duration_seconds',
      'cgroup thaw',
      LATENCY,
      registers,
    ).labels();
    this.invocationSeconds = new FastHistogram(
      'floe_agent_invocation_duration_seconds',
      'Invocation time through the agent (thaw, call, response)',
      LATENCY,
      registers,
    );
    this.failures = new Counter({
      name: 'floe_agent_function_failures_total',
      help: 'Instances lost to OOM kills, timeouts and crashes',
      labelNames: ['function_name', 'kind'],
      registers,
    });
    this.memoryBytes = new Gauge({
      name: 'floe_agent_function_memory_bytes',
      help: "Memory used by a function's instances (cgroup)",
      labelNames: ['function_name'],
      registers,
    });
    this.throttled = new Gauge({
      name: 'floe_agent_function_cpu_throttled_periods',
      help: "CPU throttled periods of a function's live instances (cgroup cpu.stat)",
      labelNames: ['function_name'],
      registers,
    });
    this.capacityBytes = new Gauge({
      name: 'floe_agent_memory_capacity_bytes',
      help: 'Memory this agent may give to containers',
      registers,
    });
    this.usedBytes = new Gauge({
      name: 'floe_agent_memory_reserved_bytes',
      help: 'Memory reserved by live containers',
      registers,
      collect() {
        this.set(pool()?.usedBytes ?? 0);
      },
    });
    this.limitBytes = new Gauge({
      name: 'floe_agent_memory_limits_bytes',
      help: "Sum of live containers' memory limits (capped at capacity × FLOE_AGENT_OVERCOMMIT)",
      registers,
      collect() {
        this.set(pool()?.limitBytes ?? 0);
      },
    });
    this.evictableBytes = new Gauge({
      name: 'floe_agent_memory_evictable_bytes',
      help: 'Reserved memory held by idle, frozen and stemcell containers that eviction could free',
      registers,
      collect() {
        this.set(pool()?.evictableBytes ?? 0);
      },
    });
    this.evictions = new Counter({
      name: 'floe_evictions_total',
      help: 'Idle instances destroyed: to make room for a start (capacity), for a thaw (thaw), or at keep-alive expiry (keep_alive)',
      labelNames: ['reason'],
      registers,
    });
    this.keepAliveSeconds = new Histogram({
      name: 'floe_keep_alive_seconds',
      help: 'Keep-alive chosen for each paused instance, by policy (fixed, or histogram of the function idle times)',
      labelNames: ['policy'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400],
      registers,
    });
    this.heartbeats = new Counter({
      name: 'floe_agent_heartbeats_total',
      help: 'Heartbeats to Redis by result',
      labelNames: ['result'],
      registers,
    });
  }

  /** One call's time in the agent; the series is looked up once per function and start kind. */
  observeInvocation(
    version: Pick<FunctionVersion, 'namespace' | 'name'>,
    start: StartKind,
    seconds: number,
  ): void {
    const key = `${version.namespace}/${version.name}`;
    let byStart = this.invocationChildren.get(key);
    if (!byStart) {
      byStart = {};
      this.invocationChildren.set(key, byStart);
    }
    let child = byStart[start];
    if (!child) {
      child = this.invocationSeconds.labels({ function_name: fnLabel(key), start });
      byStart[start] = child;
    }
    child.observe(seconds);
  }

  /** Pool hooks that feed these metrics. */
  events(): PoolEvents {
    return {
      start: (kind, runtime, ms) => {
        this.starts.inc({ kind, runtime });
        this.startSeconds.observe({ kind, runtime }, ms / 1000);
      },
      freeze: (ms) => this.freezeSeconds.observe(ms / 1000),
      thaw: (ms) => this.thawSeconds.observe(ms / 1000),
      failure: (fn, kind) => this.failures.inc({ function_name: fnLabel(fn), kind }),
      evict: (reason) => this.evictions.inc({ reason }),
      keepAlive: (choice) => this.keepAliveSeconds.observe({ policy: choice.policy }, choice.ms / 1000),
    };
  }

  /** Samples cgroup stats of live instances into per-function gauges (on scrape). */
  async sample(pool: Pool): Promise<void> {
    const mem = new Map<string, number>();
    const thr = new Map<string, number>();
    await Promise.all(
      pool.list().map(async (i) => {
        if (!i.key || !i.live) return;
        try {
          const s = await i.backend.memoryUsage();
          mem.set(i.key, (mem.get(i.key) ?? 0) + s.bytes);
          thr.set(i.key, (thr.get(i.key) ?? 0) + s.nrThrottled);
        } catch {}
      }),
    );
    this.memoryBytes.reset();
    this.throttled.reset();
    for (const [k, v] of mem) this.memoryBytes.set({ function_name: fnLabel(k) }, v);
    for (const [k, v] of thr) this.throttled.set({ function_name: fnLabel(k) }, v);
  }
}

/** `ns/name` → `name.ns`, the OpenFaaS function_name label. */
export function fnLabel(key: string): string {
  const [ns, name] = key.split('/');
  return name ? `${name}.${ns}` : key;
}
