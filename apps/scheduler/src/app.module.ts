import { type DynamicModule, Module } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { SchedulerConfig } from './config.js';
import { HealthController } from './health.controller.js';
import { MetricsController } from './metrics.controller.js';
import { REDIS, SCHEDULER_CONFIG } from './tokens.js';

@Module({})
export class AppModule {
  static forRoot(config: SchedulerConfig): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: SCHEDULER_CONFIG, useValue: config },
        {
          provide: REDIS,
          // maxRetriesPerRequest keeps calls from hanging while Redis is down: they fail
          // fast and the API answers 503 until the connection comes back on its own.
          useFactory: () =>
            new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false }),
        },
      ],
    };
  }
}
