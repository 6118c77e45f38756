import type {
  AgentInfo,
  BuildLogRequest,
  BuildLogResponse,
  DeadLetter,
  DeadLettersRequest,
  DirectCallStats,
  EnqueueRequest,
  EnqueueResponse,
  FunctionPage,
  FunctionPageRequest,
  FunctionRef,
  FunctionStatus,
  FunctionVersionSummary,
  ImagePullEvent,
  ImagePullRequest,
  InvokeRequest,
  InvokeResponse,
  LogLine,
  LogsReadRequest,
  NamespaceRef,
  Placement,
  PlaceRequest,
  RollbackRequest,
  ScaleRequest,
  SecretPutRequest,
  SecretSummary,
} from '@floe/contracts';
import { InvalidArgumentError, NotFoundError, validateDeployment, withoutNulls } from '@floe/contracts';
import type { RegistryConfig } from '@floe/overlay-snapshots';
import type { Redis } from 'ioredis';
import type { AgentClientFactory } from './agent-client.js';
import { AgentDirectory } from './agent-directory.js';
import { AsyncQueue } from './async-queue.js';
import { AsyncWorker } from './async-worker.js';
import { Autoscaler, DEFAULT_SCALE_IN_IDLE_MS } from './autoscaler.js';
import { checkBuildId, DepsBuilds } from './deps-builds.js';
import { FunctionCache } from './function-cache.js';
import { type FunctionEntry, FunctionRegistry } from './function-registry.js';
import { ImagePullService } from './image-pull.js';
import { ImageResolver } from './image-resolver.js';
import { InvokeService } from './invoke-service.js';
import { fnKey, type SchedulerKeys, schedulerKeys } from './keys.js';
import { LeaderLease } from './leader-lease.js';
import { LoadTracker } from './load-tracker.js';
import { readLogs } from './log-reader.js';
import { metrics } from './metrics.js';
import { measureRedisFootprint } from './redis-footprint.js';
import { replicaFloor } from './replica-policy.js';
import { loadSecretKey, SecretStore } from './secret-store.js';

/** Everything the scheduler core needs to know, validated by the app's config loader. */
export interface SchedulerSettings {
  id: string;
  /** Redis key prefix (`floe`; tests use a unique one). */
  redisPrefix: string;
  stateDir: string;
  /** The secrets key from elsewhere than the state dir (a mounted k8s Secret, a systemd credential). */
  secretsKeyFile?: string;
  agentTimeoutMs: number;
  queueWaitMs: number;
  queueMax: number;
  idleScaleToZeroMs: number;
  /** Platform-wide scale to zero (FLOE_SCALE_TO_ZERO); off: only functions that opt in. */
  scaleToZero?: boolean;
  /** Idle time before surplus instances over the desired count are retired. */
  scaleInIdleMs?: number;
  stemcellsPerRuntime: number;
  asyncMaxAttempts: number;
  asyncWorkers: number;
  asyncClaimIdleMs: number;
  asyncBackoffBaseMs: number;
  asyncBackoffMaxMs: number;
  agentPollMs: number;
  leaderTtlMs: number;
  reconcileMs: number;
  version: string;
  /** Registries (CA, insecure hosts, mirrors): images are resolved at deploy when set. */
  registry?: RegistryConfig;
  /** How long a deploy waits for an agent's dependencies install (agents kill it at FLOE_BUILD_TIMEOUT_MS). */
  buildTimeoutMs?: number;
}

/** An agent's default build timeout (300 s) plus room for the import and the answer. */
export const DEFAULT_BUILD_TIMEOUT_MS = 330_000;

/** Redis connections by purpose: `main` (commands), `subscriber` (pub/sub), `blocking` (XREADGROUP). */
export type RedisConnector = (purpose: 'main' | 'subscriber' | 'blocking') => Redis;

/** The largest page fn.page serves. */
export const MAX_PAGE = 1000;

/** agents.list answers these. */
export interface AgentSummary extends AgentInfo {
  state: 'up' | 'suspended';
}

/** scheduler.info answers this: SchedulerInfo plus the provider block of OpenFaaS's /system/info. */
export interface ProviderInfo {
  version: string;
  sha: string;
  orchestration: string;
  provider: { provider: string; orchestration: string; version: { release: string; sha: string } };
  arch: string;
}

/**
 * The scheduler, framework-free: owns the Redis-backed registry and secrets, the in-memory
 * caches, placement, the leader's pool manager and the async workers. The app only maps
 * RPC patterns onto these methods. `start` tolerates Redis being down: caches fill and the
 * leader loop starts working once it is back.
 */
export class Scheduler {
  readonly keys: SchedulerKeys;
  readonly registry: FunctionRegistry;
  readonly secrets: SecretStore;
  readonly cache: FunctionCache;
  readonly directory: AgentDirectory;
  private readonly depsBuilds: DepsBuilds;
  readonly tracker = new LoadTracker();
  readonly invoker: InvokeService;
  readonly autoscaler: Autoscaler;
  readonly lease: LeaderLease;
  readonly queue: AsyncQueue;
  readonly worker: AsyncWorker;
  readonly images: ImagePullService;
  private readonly redis: Redis;
  private readonly conns: Redis[];
  private timers: NodeJS.Timeout[] = [];
  private reconciling = false;

  constructor(
    private readonly settings: SchedulerSettings,
    connect: RedisConnector,
    private readonly clients: AgentClientFactory,
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.keys = schedulerKeys(settings.redisPrefix);
    this.redis = connect('main');
    const subscriber = connect('subscriber');
    const blocking = connect('blocking');
    this.conns = [this.redis, subscriber, blocking];
    this.secrets = new SecretStore(
      this.redis,
      this.keys,
      loadSecretKey(settings.stateDir, settings.secretsKeyFile),
    );
    const resolver = settings.registry ? new ImageResolver(this.secrets, settings.registry, log) : undefined;
    this.registry = new FunctionRegistry(this.redis, this.keys, this.secrets, resolver);
    this.cache = new FunctionCache(this.registry, subscriber, this.keys);
    this.directory = new AgentDirectory(this.redis, this.keys, { pollMs: settings.agentPollMs });
    // A layer's bytes arrive many times a second; minutes of silence mean the agent is gone.
    this.images = new ImagePullService(resolver, this.directory, clients, 300_000);
    this.depsBuilds = new DepsBuilds(
      this.redis,
      this.keys,
      this.directory,
      clients,
      settings.buildTimeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS,
    );
    this.invoker = new InvokeService(this.cache, this.directory, clients, this.tracker, settings);
    this.autoscaler = new Autoscaler(
      this.cache,
      this.directory,
      clients,
      this.tracker,
      this.registry,
      {
        stemcellsPerRuntime: settings.stemcellsPerRuntime,
        scaleToZeroMs: settings.idleScaleToZeroMs,
        scaleToZero: settings.scaleToZero ?? false,
        scaleInIdleMs: settings.scaleInIdleMs ?? DEFAULT_SCALE_IN_IDLE_MS,
      },
      log,
    );
    this.lease = new LeaderLease(this.redis, this.keys.leader, settings.id, settings.leaderTtlMs);
    this.queue = new AsyncQueue(this.redis, this.keys);
    this.worker = new AsyncWorker(
      blocking,
      this.redis,
      this.keys,
      this.queue,
      (r) => this.invoker.invoke(r),
      {
        // Unique per process: a restarted replica must not inherit a dead consumer's name.
        consumer: `${settings.id}-${process.pid}-${Date.now().toString(36)}`,
        concurrency: settings.asyncWorkers,
        maxAttempts: settings.asyncMaxAttempts,
        claimIdleMs: settings.asyncClaimIdleMs,
        backoffBaseMs: settings.asyncBackoffBaseMs,
        backoffMaxMs: settings.asyncBackoffMaxMs,
        callbackTimeoutMs: 10_000,
      },
      log,
    );
  }

  async start(): Promise<void> {
    await waitReady(this.redis, 3000);
    this.directory.on('up', (a: AgentInfo) => {
      if (this.lease.isLeader)
        void this.autoscaler
          .sendTarget(a)
          .catch((e) => this.log(`target ${a.id}: ${e.code ?? ''} ${e.message}`));
    });
    this.directory.on('down', (id: string) => {
      this.log(`agent ${id} left`);
      this.clients.drop(id);
    });
    this.lease.on('change', (leader: boolean) => {
      metrics.isLeader.set(leader ? 1 : 0);
      this.log(leader ? 'became leader' : 'lost leadership');
      if (leader) for (const a of this.directory.agents()) void this.autoscaler.sendTarget(a).catch(() => {});
    });
    this.cache.on('changed', (key: string, entry: FunctionEntry | undefined) => {
      if (!this.lease.isLeader) return;
      const [ns, name] = key.split('/') as [string, string];
      const p = entry ? this.autoscaler.retireOldVersions(entry) : this.autoscaler.retireAll(ns, name);
      void p.catch(() => {});
    });
    await this.cache.start();
    await this.directory.start();
    await this.queue.ensureGroup().catch(() => {});
    await this.lease.start();
    this.worker.start();
    this.every(this.settings.reconcileMs, () => this.leaderTick());
    this.every(1000, () => this.flushStats());
    this.every(2000, () => this.updateGauges());
    void this.sampleFootprint().catch(() => {});
    this.every(30_000, () => this.sampleFootprint());
    // Safety net for missed pub/sub messages.
    this.every(30_000, () => this.cache.reloadAll());
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await Promise.race([this.worker.stop(), new Promise((r) => setTimeout(r, 5000))]);
    await this.flushStats().catch(() => {});
    await this.lease.stop();
    this.directory.stop();
    this.cache.stop();
    this.clients.closeAll();
    for (const c of this.conns) c.disconnect();
  }

  info(): ProviderInfo {
    const release = this.settings.version;
    const sha = process.env.FLOE_GIT_SHA ?? 'dev';
    return {
      version: release,
      sha,
      orchestration: 'floe',
      provider: { provider: 'floe', orchestration: 'floe', version: { release, sha } },
      arch: process.arch === 'x64' ? 'x86_64' : process.arch,
    };
  }

  /**
   * fn.deploy / fn.update. A `buildId` beside the deployment's fields names the build log
   * (build.log) a client follows while the dependencies install; it is not stored.
   */
  async deploy(input: unknown, mode: 'create' | 'update'): Promise<FunctionStatus> {
    const { buildId, ...dep } = (withoutNulls(input) ?? {}) as { buildId?: unknown };
    const build = checkBuildId(buildId);
    // Validated before a build starts: a bad deployment installs nothing.
    const deps = await this.depsBuilds.prepare(validateDeployment(dep), build);
    const v = await this.registry.deploy(dep, mode, deps?.spec.key);
    await this.cache.refresh(v.namespace, v.name);
    const status = await this.get({ namespace: v.namespace, name: v.name });
    return deps ? { ...status, dependencies: deps.cached ? 'cached' : 'installed' } : status;
  }

  buildLog(req: BuildLogRequest): Promise<BuildLogResponse> {
    return this.depsBuilds.log(req?.id, req?.after);
  }

  async get(ref: FunctionRef): Promise<FunctionStatus> {
    const entry = await this.registry.get(ref.namespace, ref.name);
    const stats = await this.registry.stats(ref.namespace, [ref.name]);
    return this.status(entry, stats.get(ref.name));
  }

  async list(ref: NamespaceRef): Promise<FunctionStatus[]> {
    const entries = await this.registry.list(ref.namespace);
    const stats = await this.registry.stats(
      ref.namespace,
      entries.map((e) => e.record.name),
    );
    return entries.map((e) => this.status(e, stats.get(e.record.name)));
  }

  async page(req: FunctionPageRequest): Promise<FunctionPage> {
    const limit = req.limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
      throw new InvalidArgumentError('limit', `expected an integer from 1 to ${MAX_PAGE}`);
    const { entries, nextCursor } = await this.registry.page(req.namespace, limit, req.cursor);
    const stats = await this.registry.stats(
      req.namespace,
      entries.map((e) => e.record.name),
    );
    const functions = entries.map((e) => this.status(e, stats.get(e.record.name)));
    return nextCursor === undefined ? { functions } : { functions, nextCursor };
  }

  async remove(ref: FunctionRef): Promise<void> {
    await this.registry.remove(ref.namespace, ref.name);
    await this.cache.refresh(ref.namespace, ref.name);
    await this.autoscaler.retireAll(ref.namespace, ref.name);
  }

  async scale(req: ScaleRequest): Promise<FunctionStatus> {
    const entry = await this.registry.setReplicas(req.namespace, req.name, req.replicas);
    await this.cache.refresh(req.namespace, req.name);
    if (req.replicas === 0) await this.autoscaler.retireAll(req.namespace, req.name);
    return this.status(entry);
  }

  versions(ref: FunctionRef): Promise<FunctionVersionSummary[]> {
    return this.registry.versions(ref.namespace, ref.name);
  }

  async rollback(req: RollbackRequest): Promise<FunctionStatus> {
    await this.registry.rollback(req.namespace, req.name, req.version);
    await this.cache.refresh(req.namespace, req.name);
    return this.get(req);
  }

  namespaces(): Promise<string[]> {
    return this.registry.namespaces();
  }

  secretList(ref: NamespaceRef): Promise<SecretSummary[]> {
    return this.secrets.list(ref.namespace);
  }

  secretPut(req: SecretPutRequest): Promise<void> {
    return this.secrets.put(req);
  }

  secretRemove(ref: FunctionRef): Promise<void> {
    return this.secrets.remove(ref.namespace, ref.name);
  }

  secretValues(req: { namespace: string; names: string[] }): Promise<Record<string, string>> {
    return this.secrets.values(req.namespace, req.names ?? []);
  }

  invoke(req: InvokeRequest): Promise<InvokeResponse> {
    return this.invoker.invoke(req);
  }

  place(req: PlaceRequest): Promise<Placement> {
    return this.invoker.placement(req);
  }

  recordDirect(stats: DirectCallStats): void {
    this.invoker.recordDirect(stats);
  }

  async enqueue(req: EnqueueRequest): Promise<EnqueueResponse> {
    const fn = req?.request;
    if (fn && !(await this.cache.load(fn.namespace, fn.function))) {
      throw new NotFoundError(`async ${fn.namespace}/${fn.function}: function not found`);
    }
    return this.queue.enqueue(req);
  }

  deadLetters(req: DeadLettersRequest): Promise<DeadLetter[]> {
    return this.queue.deadLetters(req);
  }

  logs(req: LogsReadRequest): Promise<LogLine[]> {
    return readLogs(this.directory, this.clients, req);
  }

  /** image.pull: resolve once, have agents pull the pinned digest; events streamed to `emit`. */
  pullImage(req: ImagePullRequest, emit: (e: ImagePullEvent) => void): Promise<void> {
    return this.images.pull(req, emit);
  }

  agents(): AgentSummary[] {
    return this.directory
      .all()
      .map((a) => ({ ...a, state: this.directory.isSuspended(a.id) ? 'suspended' : 'up' }));
  }

  /**
   * A function as OpenFaaS clients read it: `replicas` is what the platform is keeping up,
   * `availableReplicas` what the agents report running. Right after a scale to 0 both are 0,
   * though agents' next heartbeats still list the instances just retired. Labels carry
   * `faas_function: <name>`, as OpenFaaS adds it to every function.
   */
  private status(entry: FunctionEntry, stats?: { count: number; last: number }): FunctionStatus {
    const { record, version } = entry;
    const key = fnKey(record.namespace, record.name);
    let instances = 0;
    let ready = 0;
    for (const a of this.directory.all()) {
      const f = a.functions[key];
      instances += f?.instances ?? 0;
      ready += f?.ready ?? f?.instances ?? 0;
    }
    const last = Math.max(
      stats?.last ?? 0,
      this.tracker.lastActivity(key),
      Date.parse(version.createdAt) || 0,
    );
    const { floor, why } = replicaFloor(entry, last, this.tracker.total(key), Date.now(), {
      scaleToZero: this.settings.scaleToZero,
      scaleToZeroMs: this.settings.idleScaleToZeroMs,
    });
    if (why === 'held') instances = ready = 0;
    return {
      ...version.deployment,
      labels: { ...version.deployment.labels, faas_function: record.name },
      name: record.name,
      namespace: record.namespace,
      replicas: Math.max(instances, Math.min(floor, version.maxScale)),
      availableReplicas: ready,
      invocationCount: stats?.count ?? 0,
      createdAt: record.createdAt,
      version: version.version,
    };
  }

  private async leaderTick(): Promise<void> {
    if (!this.lease.isLeader || this.reconciling) return;
    this.reconciling = true;
    try {
      await this.autoscaler.reconcile();
    } finally {
      this.reconciling = false;
    }
  }

  private async flushStats(): Promise<void> {
    const stats = this.tracker.drainStats();
    try {
      await this.registry.addStats(stats);
    } catch (err) {
      this.tracker.restoreStats(stats);
      throw err;
    }
  }

  private async updateGauges(): Promise<void> {
    const all = this.directory.all();
    const suspended = all.filter((a) => this.directory.isSuspended(a.id)).length;
    metrics.agents.set({ state: 'up' }, all.length - suspended);
    metrics.agents.set({ state: 'suspended' }, suspended);
    const b = await this.queue.backlog();
    metrics.asyncBacklog.set(b.pending + b.lag);
    metrics.asyncDeadLetters.set(b.dead);
  }

  /** Redis memory per function, on the leader only: one sample serves every replica's dashboards. */
  private async sampleFootprint(): Promise<void> {
    if (!this.lease.isLeader) return;
    const f = await measureRedisFootprint(this.redis, this.keys, await this.registry.namespaces());
    metrics.functionsDeployed.set(f.functions);
    metrics.redisBytesPerFunction.set(f.bytesPerFunction);
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => void fn().catch(() => {}), ms);
    t.unref();
    this.timers.push(t);
  }
}

/** Waits for the first connection, but never longer than `ms`: a start with Redis down still serves. */
function waitReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    redis.once('ready', done);
    function done() {
      clearTimeout(t);
      redis.off('ready', done);
      resolve();
    }
  });
}
