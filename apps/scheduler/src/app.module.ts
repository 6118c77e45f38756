import { type DynamicModule, Module } from '@nestjs/common';
import type { SchedulerConfig } from './config.js';
import { HealthController } from './health.controller.js';
import { InvokeChannel } from './invoke.channel.js';
import { MetricsController } from './metrics.controller.js';
import { connectRedis } from './redis.js';
import { SchedulerController } from './scheduler.controller.js';
import { createScheduler, SchedulerLifecycle } from './scheduler.lifecycle.js';
import { REDIS, SCHEDULER, SCHEDULER_CONFIG } from './tokens.js';

@Module({})
export class AppModule {
  static forRoot(config: SchedulerConfig): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController, MetricsController, SchedulerController],
      providers: [
        { provide: SCHEDULER_CONFIG, useValue: config },
        { provide: REDIS, useFactory: () => connectRedis(config, 'main') },
        { provide: SCHEDULER, useFactory: () => createScheduler(config) },
        SchedulerLifecycle,
        InvokeChannel,
      ],
    };
  }
}
