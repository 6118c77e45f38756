import { readFileSync } from 'node:fs';
import { ConfigError, type EnvReader } from './config.js';

/** Where a service finds Redis: `REDIS_URL`, and for `rediss://` the CA to trust. */
export interface RedisTarget {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). */
  url: string;
  /** PEM of the CA that signed Redis's certificate (`FLOE_REDIS_CA`), when not a public one. */
  ca?: Buffer;
}

/**
 * Reads and checks `REDIS_URL` (and `FLOE_REDIS_CA` for `rediss://`) once at start, so a typo
 * is a ConfigError naming the variable instead of a connection that retries forever.
 */
export function redisTarget(env: EnvReader, def = 'redis://127.0.0.1:6379'): RedisTarget {
  const url = env.string('REDIS_URL', def);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('REDIS_URL', 'expected redis://[user:password@]host:port or rediss://…');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new ConfigError('REDIS_URL', `expected redis:// or rediss://, got ${parsed.protocol}//`);
  const caFile = env.optional('FLOE_REDIS_CA');
  if (!caFile) return { url };
  if (parsed.protocol !== 'rediss:')
    throw new ConfigError('FLOE_REDIS_CA', 'only applies to a rediss:// REDIS_URL');
  try {
    return { url, ca: readFileSync(caFile) };
  } catch (err) {
    throw new ConfigError('FLOE_REDIS_CA', `${caFile}: ${(err as Error).message}`);
  }
}

/** The ioredis options a target adds: TLS trusting its CA, when it names one. */
export function redisTlsOptions(t: RedisTarget): { tls?: { ca: Buffer } } {
  return t.ca ? { tls: { ca: t.ca } } : {};
}
