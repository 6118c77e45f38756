import { type ClusterTls, EnvReader, type RedisTarget, redisTarget, stateDir } from '@floe/contracts';
import { registryConfigFromEnv, registryEnv } from '@floe/overlay-snapshots';
import type { SchedulerSettings } from '@floe/scheduler-core';

/** The scheduler's whole configuration, validated once at start. */
export interface SchedulerConfig extends SchedulerSettings {
  redisUrl: string;
  /** REDIS_URL checked, with FLOE_REDIS_CA for a rediss:// one. */
  redis: RedisTarget;
  /** Per-command timeout, so a hung Redis answers UNAVAILABLE instead of hanging callers. */
  redisCommandTimeoutMs: number;
  rpc: { host: string; port: number };
  /** The invoke fast path (length-prefixed JSON frames, not Nest TCP); the gateway calls it. */
  invoke: { host: string; port: number };
  http: { host: string; port: number };
  /**
   * Mutual TLS on every internal listener and client (Nest TCP RPC, the invoke channel, calls
   * to agents). main.ts loads it (internalTlsFromEnv); absent, they run in plain TCP, as in
   * tests that boot the app in-process.
   */
  internalTls?: ClusterTls;
}

export function loadConfig(env = new EnvReader()): SchedulerConfig {
  const rpc = env.address('FLOE_SCHEDULER_RPC', '127.0.0.1:7001');
  const redis = redisTarget(env);
  return {
    id: env.string('FLOE_SCHEDULER_ID', `scheduler-${process.pid}`),
    redisUrl: redis.url,
    redis,
    redisPrefix: env.string('FLOE_REDIS_PREFIX', 'floe'),
    redisCommandTimeoutMs: env.int('FLOE_REDIS_COMMAND_TIMEOUT_MS', 1000, { min: 50 }),
    rpc,
    invoke: env.address('FLOE_SCHEDULER_INVOKE', '127.0.0.1:7003'),
    http: env.address('FLOE_SCHEDULER_HTTP', '127.0.0.1:7002'),
    stateDir: stateDir({ FLOE_STATE_DIR: env.optional('FLOE_STATE_DIR') }),
    secretsKeyFile: env.optional('FLOE_SECRETS_KEY_FILE'),
    agentTimeoutMs: env.int('FLOE_AGENT_TIMEOUT_MS', 5000, { min: 500 }),
    queueWaitMs: env.int('FLOE_QUEUE_WAIT_MS', 2000, { min: 0 }),
    queueMax: env.int('FLOE_QUEUE_MAX', 1000, { min: 0 }),
    idleScaleToZeroMs: env.int('FLOE_SCALE_TO_ZERO_MS', 600_000, { min: 1000 }),
    scaleToZero: env.bool('FLOE_SCALE_TO_ZERO', false),
    scaleInIdleMs: env.int('FLOE_SCALE_IN_IDLE_MS', 10_000, { min: 0 }),
    asyncMaxAttempts: env.int('FLOE_ASYNC_MAX_ATTEMPTS', 5, { min: 1, max: 100 }),
    asyncWorkers: env.int('FLOE_ASYNC_WORKERS', 4, { min: 1, max: 256 }),
    asyncClaimIdleMs: env.int('FLOE_ASYNC_CLAIM_IDLE_MS', 30_000, { min: 500 }),
    asyncBackoffBaseMs: env.int('FLOE_ASYNC_BACKOFF_MS', 500, { min: 1 }),
    asyncBackoffMaxMs: env.int('FLOE_ASYNC_BACKOFF_MAX_MS', 30_000, { min: 1 }),
    stemcellsPerRuntime: env.int('FLOE_STEMCELLS', 2, { min: 0, max: 64 }),
    agentPollMs: env.int('FLOE_AGENT_POLL_MS', 500, { min: 50 }),
    leaderTtlMs: env.int('FLOE_LEADER_TTL_MS', 5000, { min: 300 }),
    reconcileMs: env.int('FLOE_RECONCILE_MS', 1000, { min: 50 }),
    version: env.string('FLOE_VERSION', '0.1.0'),
    registry: registryConfigFromEnv(registryEnv(env)),
    buildTimeoutMs: env.int('FLOE_BUILD_DEPLOY_TIMEOUT_MS', 330_000, { min: 1000 }),
  };
}
