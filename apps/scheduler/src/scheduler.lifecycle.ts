import { Scheduler } from '@floe/scheduler-core';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { SchedulerConfig } from './config.js';
import { connectRedis } from './redis.js';
import { TcpAgentClientFactory } from './tcp-agent-client.js';
import { REDIS, SCHEDULER } from './tokens.js';

/** Builds and starts the core Scheduler; Nest only owns its lifetime. */
export async function createScheduler(config: SchedulerConfig): Promise<Scheduler> {
  const logger = new Logger('scheduler');
  const scheduler = new Scheduler(
    config,
    (purpose) => connectRedis(config, purpose),
    new TcpAgentClientFactory(config.agentTimeoutMs, config.internalTls),
    (msg) => logger.log(msg),
  );
  await scheduler.start();
  return scheduler;
}

@Injectable()
export class SchedulerLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(SCHEDULER) private readonly scheduler: Scheduler,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.scheduler.stop();
    this.redis.disconnect();
  }
}
