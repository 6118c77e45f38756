import { EnvReader, stateDir } from '@floe/contracts';

/** The scheduler's whole configuration, validated once at start. */
export interface SchedulerConfig {
  id: string;
  redisUrl: string;
  rpc: { host: string; port: number };
  http: { host: string; port: number };
  stateDir: string;
  agentTimeoutMs: number;
  queueWaitMs: number;
  idleScaleToZeroMs: number;
  asyncMaxAttempts: number;
  asyncWorkers: number;
  stemcellsPerRuntime: number;
}

export function loadConfig(env = new EnvReader()): SchedulerConfig {
  const rpc = env.address('FLOE_SCHEDULER_RPC', '127.0.0.1:7001');
  return {
    id: env.string('FLOE_SCHEDULER_ID', `scheduler-${process.pid}`),
    redisUrl: env.string('REDIS_URL', 'redis://127.0.0.1:6379'),
    rpc,
    http: env.address('FLOE_SCHEDULER_HTTP', '127.0.0.1:7002'),
    stateDir: stateDir(),
    agentTimeoutMs: env.int('FLOE_AGENT_TIMEOUT_MS', 5000, { min: 500 }),
    queueWaitMs: env.int('FLOE_QUEUE_WAIT_MS', 2000, { min: 0 }),
    idleScaleToZeroMs: env.int('FLOE_SCALE_TO_ZERO_MS', 600_000, { min: 1000 }),
    asyncMaxAttempts: env.int('FLOE_ASYNC_MAX_ATTEMPTS', 5, { min: 1, max: 100 }),
    asyncWorkers: env.int('FLOE_ASYNC_WORKERS', 4, { min: 1, max: 256 }),
    stemcellsPerRuntime: env.int('FLOE_STEMCELLS', 2, { min: 0, max: 64 }),
  };
}
