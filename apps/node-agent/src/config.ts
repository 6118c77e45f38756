import os from 'node:os';
import { DEFAULT_USERNS, type UsernsSettings } from '@floe/agent-core';
import { ConfigError, EnvReader, type RedisTarget, redisTarget, stateDir } from '@floe/contracts';
import { type RegistryConfig, registryConfigFromEnv, registryEnv } from '@floe/overlay-snapshots';

/** The node-agent's whole configuration, validated once at start. */
export interface AgentConfig {
  id: string;
  redisUrl: string;
  /** REDIS_URL checked, with FLOE_REDIS_CA for a rediss:// one. */
  redis: RedisTarget;
  rpc: { host: string; port: number };
  /** The invoke fast path (length-prefixed JSON frames); the scheduler calls invoke here. */
  invoke: { host: string; port: number };
  http: { host: string; port: number };
  /** Where other services reach this agent; defaults to the bind addresses. */
  advertiseHost: string;
  stateDir: string;
  layerDir: string;
  cgroupParent: string;
  memoryBytes: number;
  /** Sum of instance limits over memoryBytes the agent keeps; frozen ones count at usage. */
  overcommit: number;
  cpus: number;
  labels: Record<string, string>;
  heartbeatMs: number;
  heartbeatTtlMs: number;
  pauseGraceMs: number;
  keepAliveMs: number;
  reclaimAfterMs: number;
  stemcellBytes: number;
  writableBytes: number;
  stemcells: { node: number; python: number; exec: number };
  sandboxes: { node: number; python: number; exec: number };
  maxBodyBytes: number;
  logMaxBytes: number;
  scheduler: { host: string; port: number };
  /** FLOE_REGISTRY_CA, FLOE_REGISTRY_INSECURE, FLOE_REGISTRY_MIRRORS. */
  registry: RegistryConfig;
  /**
   * Functions' user namespaces: the host id ranges, or false (FLOE_USERNS=off) for host root.
   * `pinned`: FLOE_USERNS_BASE was given, so the agent takes that block or none (userns-lease.ts).
   */
  userns: (UsernsSettings & { pinned: boolean }) | false;
  /** FLOE_FAVOR_DYNMODS: switch the host's v1 cgroup attaches off their RCU wait (host-wide, until reboot). */
  favorDynmods: boolean;
  /** The dependencies build sandbox (FLOE_BUILD_*, FLOE_NPM_REGISTRY, FLOE_PIP_INDEX_URL). */
  build: {
    memoryBytes: number;
    timeoutMs: number;
    writableBytes: number;
    network: 'bridge' | 'none';
    bridge: string;
    subnet: string;
    npmRegistry?: string;
    pipIndexUrl?: string;
    caFile?: string;
  };
}

function parseLabels(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(',').filter(Boolean)) {
    const [k, v = ''] = part.split('=');
    if (k) out[k.trim()] = v.trim();
  }
  return out;
}

export function loadConfig(env = new EnvReader()): AgentConfig {
  const dir = stateDir();
  const id = env.string('FLOE_AGENT_ID', `agent-${os.hostname()}`);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(id)) {
    throw new ConfigError('FLOE_AGENT_ID', `expected [a-zA-Z0-9_.-]{1,63}, got '${id}'`);
  }
  const rpc = env.address('FLOE_AGENT_RPC', '127.0.0.1:7101');
  const redis = redisTarget(env);
  return {
    id,
    redisUrl: redis.url,
    redis,
    rpc,
    invoke: env.address('FLOE_AGENT_INVOKE', '127.0.0.1:7201'),
    http: env.address('FLOE_AGENT_HTTP', '127.0.0.1:7102'),
    advertiseHost: env.string('FLOE_AGENT_ADVERTISE_HOST', rpc.host === '0.0.0.0' ? os.hostname() : rpc.host),
    stateDir: dir,
    // Layers live in `<layerDir>/snapshots`; one agent process owns a layer dir.
    layerDir: env.string('FLOE_LAYER_DIR', dir),
    cgroupParent: env.string('FLOE_CGROUP_PARENT', `floe-${id}`),
    memoryBytes: env.bytes('FLOE_AGENT_MEMORY', Math.floor(os.totalmem() * 0.75)),
    overcommit: env.int('FLOE_AGENT_OVERCOMMIT', 16, { min: 1, max: 1000 }),
    cpus: env.int('FLOE_AGENT_CPUS', os.availableParallelism(), { min: 1 }),
    labels: parseLabels(env.string('FLOE_AGENT_LABELS', '')),
    heartbeatMs: env.int('FLOE_HEARTBEAT_MS', 1000, { min: 100 }),
    heartbeatTtlMs: env.int('FLOE_HEARTBEAT_TTL_MS', 3000, { min: 300 }),
    pauseGraceMs: env.int('FLOE_PAUSE_GRACE_MS', 50, { min: 0 }),
    keepAliveMs: env.int('FLOE_KEEP_ALIVE_MS', 600_000, { min: 1000 }),
    reclaimAfterMs: env.int('FLOE_RECLAIM_AFTER_MS', 2000, { min: 0 }),
    stemcellBytes: env.bytes('FLOE_STEMCELL_MEMORY', 256 * 1024 * 1024),
    writableBytes: env.bytes('FLOE_WRITABLE_LAYER', 64 * 1024 * 1024),
    stemcells: {
      node: env.int('FLOE_STEMCELLS_NODE', env.int('FLOE_STEMCELLS', 1, { min: 0 }), { min: 0, max: 64 }),
      python: env.int('FLOE_STEMCELLS_PYTHON', env.int('FLOE_STEMCELLS', 1, { min: 0 }), { min: 0, max: 64 }),
      exec: env.int('FLOE_STEMCELLS_EXEC', env.int('FLOE_STEMCELLS', 1, { min: 0 }), { min: 0, max: 64 }),
    },
    // Containers made up to the runtime's exec, for cold starts (libs/agent-core/src/sandboxes.ts).
    sandboxes: {
      node: env.int('FLOE_SANDBOXES_NODE', env.int('FLOE_SANDBOXES', 2, { min: 0 }), { min: 0, max: 64 }),
      python: env.int('FLOE_SANDBOXES_PYTHON', env.int('FLOE_SANDBOXES', 2, { min: 0 }), { min: 0, max: 64 }),
      exec: env.int('FLOE_SANDBOXES_EXEC', env.int('FLOE_SANDBOXES', 2, { min: 0 }), { min: 0, max: 64 }),
    },
    maxBodyBytes: env.bytes('FLOE_MAX_BODY_BYTES', 6 * 1024 * 1024),
    logMaxBytes: env.bytes('FLOE_LOG_MAX_BYTES', 8 * 1024 * 1024),
    scheduler: env.address('FLOE_SCHEDULER_RPC', '127.0.0.1:7001'),
    registry: registryConfigFromEnv(registryEnv(env)),
    favorDynmods: env.bool('FLOE_FAVOR_DYNMODS', false),
    userns: env.bool('FLOE_USERNS', true) && {
      base: env.int('FLOE_USERNS_BASE', DEFAULT_USERNS.base, { min: 65536 }),
      size: env.int('FLOE_USERNS_SIZE', DEFAULT_USERNS.size, { min: 1, max: 1 << 20 }),
      count: env.int('FLOE_USERNS_COUNT', DEFAULT_USERNS.count, { min: 1 }),
      pinned: env.optional('FLOE_USERNS_BASE') !== undefined,
    },
    build: buildConfig(env),
  };
}

function buildConfig(env: EnvReader): AgentConfig['build'] {
  const network = env.string('FLOE_BUILD_NETWORK', 'bridge');
  if (network !== 'bridge' && network !== 'none')
    throw new ConfigError('FLOE_BUILD_NETWORK', `expected bridge or none, got '${network}'`);
  const subnet = env.string('FLOE_BUILD_SUBNET', '10.89.0.0');
  if (!/^\d{1,3}\.\d{1,3}\.0\.0$/.test(subnet))
    throw new ConfigError(
      'FLOE_BUILD_SUBNET',
      `expected the base of a /16 such as 10.89.0.0, got '${subnet}'`,
    );
  const npm = env.url('FLOE_NPM_REGISTRY');
  const pip = env.url('FLOE_PIP_INDEX_URL');
  const ca = env.optional('FLOE_BUILD_CA_FILE');
  return {
    memoryBytes: env.bytes('FLOE_BUILD_MEMORY', 1024 * 1024 * 1024),
    timeoutMs: env.int('FLOE_BUILD_TIMEOUT_MS', 300_000, { min: 1000 }),
    writableBytes: env.bytes('FLOE_BUILD_WRITABLE', 1024 * 1024 * 1024),
    network,
    bridge: env.string('FLOE_BUILD_BRIDGE', 'floeb0'),
    subnet,
    ...(npm ? { npmRegistry: npm.href } : {}),
    ...(pip ? { pipIndexUrl: pip.href } : {}),
    ...(ca ? { caFile: ca } : {}),
  };
}
