import path from 'node:path';
import { type ClusterTls, ConfigError, DEFAULT_NAMESPACE, EnvReader, stateDir } from '@floe/contracts';
import { type RegistryConfig, registryConfigFromEnv, registryEnv } from '@floe/overlay-snapshots';

/** The gateway's whole configuration, validated once at start. Paths are resolved, not yet read. */
export interface GatewayConfig {
  https: { host: string; port: number };
  /** Loopback-only plain HTTP listener (metrics, local tools); off unless FLOE_GATEWAY_HTTP_PORT is set. */
  http?: { host: string; port: number };
  scheduler: { host: string; port: number };
  /** The scheduler's invoke fast path (length-prefixed JSON frames); management stays on `scheduler`. */
  schedulerInvoke: { host: string; port: number };
  stateDir: string;
  /** User-supplied cert/key files; when absent a self-signed pair is kept under the state dir. */
  tls: { certFile?: string; keyFile?: string };
  admin: { user: string; password?: string };
  defaultNamespace: string;
  /** Largest invoke request body; larger answers 413. */
  maxBodyBytes: number;
  /** Largest management request body (deploy JSON with base64 code). */
  maxDeployBytes: number;
  /** Largest image tar accepted by POST /floe/images. */
  maxImageBytes: number;
  /** Upper bound on waiting for the scheduler per call (504 past it); function timeouts are the scheduler's to enforce. */
  invokeTimeoutMs: number;
  /** Timeout of management RPCs (deploy, list, ...). */
  rpcTimeoutMs: number;
  /** A deploy with code waits this long for the scheduler (its dependencies install included). */
  buildTimeoutMs: number;
  /** In-flight invocations above which the gateway answers 429 itself, before asking anyone. */
  maxInflight: number;
  /** FLOE_DIRECT_ROUTE: call agents directly with the scheduler's placements (off: every call via the scheduler). */
  directRoute: boolean;
  /** Polling interval of GET /system/logs?follow=true. */
  logsPollMs: number;
  /** Registries; with `uploadRegistry` (FLOE_REGISTRY) uploads are pushed there for every agent. */
  registry?: RegistryConfig;
  /**
   * The gateway's credential towards the scheduler's ports (mutual TLS, cluster CA); main.ts
   * loads it (internalTlsFromEnv). Absent, the gateway calls in plain TCP, as in tests.
   */
  internalTls?: ClusterTls;
}

export function loadConfig(env = new EnvReader()): GatewayConfig {
  const certFile = env.optional('FLOE_TLS_CERT');
  const keyFile = env.optional('FLOE_TLS_KEY');
  // Half a pair is almost always a typo; refusing to start beats silently self-signing.
  if (certFile && !keyFile) throw new ConfigError('FLOE_TLS_KEY', 'required when FLOE_TLS_CERT is set');
  if (keyFile && !certFile) throw new ConfigError('FLOE_TLS_CERT', 'required when FLOE_TLS_KEY is set');
  const httpPort = env.optional('FLOE_GATEWAY_HTTP_PORT');
  return {
    https: { host: env.string('FLOE_GATEWAY_HOST', '0.0.0.0'), port: env.port('FLOE_GATEWAY_PORT', 8443) },
    // Plain HTTP is never exposed beyond loopback: credentials would cross the wire in clear.
    http:
      httpPort === undefined ? undefined : { host: '127.0.0.1', port: env.port('FLOE_GATEWAY_HTTP_PORT', 0) },
    scheduler: env.address('FLOE_SCHEDULER_RPC', '127.0.0.1:7001'),
    schedulerInvoke: env.address('FLOE_SCHEDULER_INVOKE', '127.0.0.1:7003'),
    stateDir: stateDir({ FLOE_STATE_DIR: env.optional('FLOE_STATE_DIR') }),
    tls: {
      certFile: certFile && path.resolve(certFile),
      keyFile: keyFile && path.resolve(keyFile),
    },
    admin: { user: env.string('FLOE_ADMIN_USER', 'admin'), password: env.optional('FLOE_ADMIN_PASSWORD') },
    defaultNamespace: env.string('FLOE_DEFAULT_NAMESPACE', DEFAULT_NAMESPACE),
    maxBodyBytes: env.bytes('FLOE_MAX_BODY_BYTES', 10 * 1024 ** 2),
    maxDeployBytes: env.bytes('FLOE_MAX_DEPLOY_BYTES', 64 * 1024 ** 2),
    maxImageBytes: env.bytes('FLOE_MAX_IMAGE_BYTES', 2 * 1024 ** 3),
    invokeTimeoutMs: env.int('FLOE_INVOKE_TIMEOUT_MS', 300_000, { min: 100 }),
    rpcTimeoutMs: env.int('FLOE_RPC_TIMEOUT_MS', 10_000, { min: 100 }),
    buildTimeoutMs: env.int('FLOE_BUILD_DEPLOY_TIMEOUT_MS', 340_000, { min: 1000 }),
    maxInflight: env.int('FLOE_GATEWAY_MAX_INFLIGHT', 4096, { min: 1 }),
    directRoute: env.bool('FLOE_DIRECT_ROUTE', true),
    logsPollMs: env.int('FLOE_LOGS_POLL_MS', 500, { min: 50 }),
    registry: registryConfigFromEnv(registryEnv(env)),
  };
}
