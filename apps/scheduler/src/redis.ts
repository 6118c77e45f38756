import { redisTlsOptions } from '@floe/contracts';
import { Redis } from 'ioredis';
import type { SchedulerConfig } from './config.js';

/**
 * A Redis connection that fails fast while Redis is down (one retry, no offline queue,
 * per-command timeout) and reconnects by itself every second at most. The blocking
 * connection's timeout must outlast XREADGROUP's BLOCK.
 */
export function connectRedis(config: SchedulerConfig, purpose: 'main' | 'subscriber' | 'blocking'): Redis {
  const redis = new Redis(config.redisUrl, {
    ...redisTlsOptions(config.redis),
    connectionName: `${config.id}-${purpose}`,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout:
      purpose === 'blocking' ? config.redisCommandTimeoutMs + 3000 : config.redisCommandTimeoutMs,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  });
  // Errors surface on the commands; an unhandled 'error' event would only spam the log.
  redis.on('error', () => {});
  return redis;
}
