import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  type AgentImage,
  type AgentInfo,
  type AgentInvokeWire,
  type AgentPullEvent,
  type AgentPullRequest,
  type DepsBuildRequest,
  type DepsBuildResult,
  FloeError,
  type FunctionVersion,
  type InvokeRequest,
  type InvokeResponse,
  type PoolTarget,
  type RuntimeName,
  redisKeys,
} from '@floe/contracts';
import type { Runtime } from '@floe/runtime';
import type { Redis } from 'ioredis';
import { AgentMetrics } from './agent-metrics.js';
import { ChannelServer } from './channel-server.js';
import { ContainerLauncher } from './container-launcher.js';
import type { DepsBuilder } from './deps-builder.js';
import { throttleLayers } from './layer-progress.js';
import { type LogLine, LogStore } from './log-store.js';
import { Membership } from './membership.js';
import { ensurePythonBytecode, ensureWatchdog } from './native-build.js';
import { Pool } from './pool.js';
import type { HostMounts, RootfsProvider } from './ports.js';
import { SANDBOX_RUNTIMES, type SandboxRuntime } from './sandboxes.js';
import type { UserNamespaces } from './user-namespaces.js';
import { VersionCache } from './version-cache.js';

const EMPTY = Buffer.alloc(0);

export interface AgentSettings {
  id: string;
  rpc: string;
  /** host:port of the invoke fast path, when the app serves one; the scheduler prefers it. */
  invoke?: string;
  /** The invoke fast path's unix socket, for peers on this host (AgentInfo.invokeSocket). */
  invokeSocket?: string;
  http: string;
  stateDir: string;
  labels: Record<string, string>;
  memoryBytes: number;
  /** FLOE_AGENT_OVERCOMMIT: sum of instance limits over capacity kept (frozen ones at usage). */
  overcommit?: number;
  cpus: number;
  pauseGraceMs: number;
  keepAliveMs: number;
  reclaimAfterMs: number;
  stemcellBytes: number;
  writableBytes: number;
  logMaxBytes: number;
  heartbeatMs: number;
  heartbeatTtlMs: number;
  stemcells: Partial<Record<RuntimeName, number>>;
  /** FLOE_SANDBOXES: prepared sandboxes kept per runtime for cold starts (sandboxes.ts). */
  sandboxes?: Partial<Record<SandboxRuntime, number>>;
  /** FLOE_MAX_BODY_BYTES: the largest request or response body on the invoke channel. */
  maxBodyBytes?: number;
}

export interface AgentDeps {
  redis: Redis;
  runtime: Runtime;
  rootfs: RootfsProvider;
  mounts: HostMounts;
  /** Each function in a user namespace of its own host id range; absent, as host root. */
  userns?: UserNamespaces;
  /** Decrypted secret values, from the scheduler. */
  secrets: (namespace: string, names: string[]) => Promise<Record<string, string>>;
  /** Builds and holds dependencies layers (agent.deps.build); absent, deploys with a lockfile fail here. */
  deps?: DepsBuilder;
}

/** How long a deploy's build log stays readable in Redis. */
const BUILD_LOG_TTL_S = 600;
/** Dependencies layers no version uses are dropped this often (and at start). */
const DEPS_GC_MS = 10 * 60_000;

/**
 * The node-agent's engine: one pool of containers, the invoke channel they connect to, their
 * logs, and the agent's presence in Redis. The Nest app only puts transports in front of it.
 */
export class Agent {
  readonly pool: Pool;
  readonly logs: LogStore;
  readonly metrics: AgentMetrics;
  private readonly channel: ChannelServer;
  private readonly membership: Membership;
  private readonly startedAt = Date.now();
  private readonly versions = new VersionCache();
  private readonly images?: () => AgentImage[];
  private readonly rootfs: RootfsProvider;
  private readonly redis: Redis;
  private readonly deps?: DepsBuilder;
  private readonly keys = redisKeys();
  private depsTimer?: NodeJS.Timeout;
  private readonly launcher: ContainerLauncher;
  private get idPrefix(): string {
    return this.settings.id.replace(/[^A-Za-z0-9_.-]/g, '-');
  }

  private constructor(
    readonly settings: AgentSettings,
    deps: AgentDeps,
  ) {
    this.images = deps.rootfs.images?.bind(deps.rootfs);
    this.rootfs = deps.rootfs;
    this.redis = deps.redis;
    if (deps.deps) this.deps = deps.deps;
    const dir = (p: string) => path.join(settings.stateDir, 'agent', p);
    mkdirSync(dir('instances'), { recursive: true });
    this.channel = new ChannelServer(dir('run/agent.sock'), settings.maxBodyBytes);
    this.logs = new LogStore(dir('logs'), settings.logMaxBytes);
    this.metrics = new AgentMetrics(() => this.pool);
    this.metrics.capacityBytes.set(settings.memoryBytes);
    const keys = redisKeys();
    const noBytecode = ensurePythonBytecode();
    if (noBytecode) console.warn(`agent: python starts compile their runtime each time: ${noBytecode}`);
    const launcher = new ContainerLauncher({
      sandboxBytes: settings.stemcellBytes,
      events: { error: (msg, err) => console.error(`agent: ${msg}: ${(err as Error)?.message ?? err}`) },
      runtime: deps.runtime,
      rootfs: deps.rootfs,
      mounts: deps.mounts,
      channel: this.channel,
      logs: this.logs,
      instancesDir: dir('instances'),
      watchdogPath: ensureWatchdog(),
      writableBytes: settings.writableBytes,
      startTimeoutMs: 15_000,
      ...(deps.userns ? { userns: deps.userns } : {}),
      ...(deps.deps ? { deps: deps.deps } : {}),
      sources: {
        code: async (digest) => {
          const buf = await deps.redis.getBuffer(keys.code(digest));
          if (!buf) throw new FloeError('NOT_FOUND', `code archive ${digest} is not in Redis`);
          return buf;
        },
        deps: async (key) => {
          const raw = await deps.redis.get(keys.deps(key));
          if (!raw) throw new FloeError('NOT_FOUND', `dependencies ${key}: no lock files in Redis`);
          return JSON.parse(raw) as Record<string, string>;
        },
        secrets: deps.secrets,
      },
    });
    this.launcher = launcher;
    this.metrics.sandboxes = () =>
      Object.fromEntries(SANDBOX_RUNTIMES.map((r) => [r, launcher.sandboxCount(r)]));
    this.pool = new Pool(
      launcher,
      {
        capacityBytes: settings.memoryBytes,
        ...(settings.overcommit === undefined ? {} : { overcommit: settings.overcommit }),
        pauseGraceMs: settings.pauseGraceMs,
        keepAliveMs: settings.keepAliveMs,
        reclaimAfterMs: settings.reclaimAfterMs,
        stemcellBytes: settings.stemcellBytes,
        stemcells: { ...settings.stemcells },
        // Half the cores: the other half keeps serving while the autoscaler scales out.
        parallelStarts: Math.max(1, Math.floor(settings.cpus / 2)),
        ...(settings.maxBodyBytes === undefined ? {} : { maxBodyBytes: settings.maxBodyBytes }),
        events: {
          ...this.metrics.events(),
          error: (msg, err) => console.error(`agent: ${msg}: ${(err as Error)?.message ?? err}`),
        },
      },
      this.idPrefix,
    );
    this.membership = new Membership(deps.redis, () => this.info(), {
      intervalMs: settings.heartbeatMs,
      ttlMs: settings.heartbeatTtlMs,
      onBeat: (ok) => this.metrics.heartbeats.inc({ result: ok ? 'ok' : 'error' }),
    });
  }

  static async start(settings: AgentSettings, deps: AgentDeps): Promise<Agent> {
    const agent = new Agent(settings, deps);
    await agent.channel.listen();
    void agent.pool.refill();
    if (settings.sandboxes) void agent.launcher.prepareSandboxes(settings.sandboxes, agent.idPrefix);
    if (agent.deps) {
      void agent.depsGc().catch(() => {});
      agent.depsTimer = setInterval(() => void agent.depsGc().catch(() => {}), DEPS_GC_MS);
      agent.depsTimer.unref();
    }
    return agent;
  }

  /**
   * agent.deps.build: the dependencies layer `req.key` on this agent, installed now if missing;
   * installer lines go to the deploy's build log in Redis as they come.
   */
  async buildDeps(req: DepsBuildRequest): Promise<DepsBuildResult> {
    if (!this.deps)
      throw new FloeError('FAILED_PRECONDITION', `agent ${this.settings.id}: no dependencies builder`);
    const logKey = req.buildId ? this.keys.buildLog(req.buildId) : undefined;
    let written = Promise.resolve();
    const onLine = (line: string) => {
      if (!logKey) return;
      // One chain keeps the lines in order; a Redis hiccup loses log lines, never the build.
      written = written
        .then(() => this.redis.multi().rpush(logKey, line).expire(logKey, BUILD_LOG_TTL_S).exec())
        .then(
          () => {},
          () => {},
        );
    };
    try {
      const r = await this.deps.ensure(req, onLine);
      if (r.cached) onLine('dependencies: cached layer, nothing installed');
      return { key: req.key, cached: r.cached };
    } finally {
      await written;
    }
  }

  /** Drops dependencies layers whose key no deployed version uses any more (Redis says). */
  depsGc(graceMs?: number): Promise<string[]> {
    if (!this.deps) return Promise.resolve([]);
    return this.deps.gc(async (key) => {
      try {
        return (await this.redis.exists(this.keys.deps(key))) === 1;
      } catch {
        return true;
      }
    }, graceMs);
  }

  /** Joins placement. Call once the RPC listener is up, or schedulers dial a closed port. */
  announce(): Promise<void> {
    return this.membership.start();
  }

  /** The invoke fast path's handler: the version comes whole or by ref (VersionCache). */
  invokeWire(wire: AgentInvokeWire): Promise<InvokeResponse> {
    return this.invoke(wire.request, this.versions.resolve(wire));
  }

  async invoke(req: InvokeRequest, version: FunctionVersion): Promise<InvokeResponse> {
    const t0 = performance.now();
    const res = await this.pool.invoke(
      version,
      {
        callId: req.callId,
        method: req.method,
        path: req.path,
        query: req.query,
        headers: req.headers,
        deadline: req.deadline,
      },
      Buffer.isBuffer(req.body) ? req.body : EMPTY,
    );
    const agentMs = performance.now() - t0;
    this.metrics.observeInvocation(version, res.start, agentMs / 1000);
    return {
      status: res.status,
      headers: res.headers,
      body: res.body,
      start: res.start,
      functionMs: res.functionUs / 1000,
      agentMs: Math.round(agentMs * 1000) / 1000,
      agentId: this.settings.id,
      instanceId: res.instanceId,
    };
  }

  ensure(version: FunctionVersion, instances: number, floor?: number): Promise<number> {
    return this.pool.ensure(version, instances, floor ?? instances);
  }

  retire(
    namespace: string,
    name: string,
    keepVersion?: number,
    scaleIn?: { keep: number; idleMs: number },
  ): Promise<number> {
    return this.pool.retire(namespace, name, keepVersion, scaleIn);
  }

  setTarget(t: PoolTarget): void {
    this.pool.setStemcellTargets(t.stemcells);
  }

  /**
   * `floe images pull` here: layer progress (a few reports a second per layer), then `done`.
   * The heartbeat goes out at once after, so GET /floe/images lists the image without waiting a beat.
   */
  async pullImage(req: AgentPullRequest, emit: (e: AgentPullEvent) => void): Promise<void> {
    if (!this.rootfs.pullImage)
      throw new FloeError('FAILED_PRECONDITION', `agent ${this.settings.id}: no registry client`, {
        fault: 'platform',
      });
    const got = await this.rootfs.pullImage(
      req,
      throttleLayers((p) => emit({ type: 'layer', ...p }), 200),
    );
    await this.membership.beat().catch(() => {});
    emit({ type: 'done', ...got });
  }

  readLogs(namespace: string, name: string, opts: { tail?: number; since?: string }): Promise<LogLine[]> {
    return this.logs.read(namespace, name, opts);
  }

  info(): AgentInfo {
    const s = this.pool.summary();
    return {
      id: this.settings.id,
      rpc: this.settings.rpc,
      ...(this.settings.invoke ? { invoke: this.settings.invoke } : {}),
      ...(this.settings.invokeSocket ? { invokeSocket: this.settings.invokeSocket } : {}),
      http: this.settings.http,
      labels: this.settings.labels,
      capacity: { memoryBytes: this.settings.memoryBytes, cpus: this.settings.cpus },
      free: { memoryBytes: Math.max(0, this.settings.memoryBytes - s.usedBytes) },
      evictable: { memoryBytes: this.pool.evictableBytes },
      stemcells: s.stemcells,
      functions: s.functions,
      startedAt: this.startedAt,
      heartbeatAt: Date.now(),
      ...(this.images ? { images: this.images() } : {}),
    };
  }

  /** Clean shutdown: leave placement first, then tear every container down. */
  async stop(): Promise<void> {
    clearInterval(this.depsTimer);
    await this.membership.stop().catch(() => {});
    await this.pool.close();
    await this.launcher.close();
    await this.channel.close();
    this.logs.close();
  }
}
