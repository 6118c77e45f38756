import path from 'node:path';
import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuthLimiter } from './auth-limiter.js';
import { BasicAuthGuard } from './basic-auth.guard.js';
import { type AdminCredentials, CredentialCheck } from './basic-auth.js';
import type { GatewayConfig } from './config.js';
import { DeadLettersController } from './dead-letters.controller.js';
import { FloeExceptionFilter } from './floe-exception.filter.js';
import { FloeFunctionsController } from './floe-functions.controller.js';
import { FunctionsController } from './functions.controller.js';
import { FunctionsService } from './functions.service.js';
import { HealthController } from './health.controller.js';
import { ImageAvailability, type ImageSource, registrySource } from './image-availability.js';
import { ImagePullService } from './image-pull.service.js';
import { ImageRefs } from './image-refs.js';
import { ImageUploadService } from './image-upload.service.js';
import { ImagesController } from './images.controller.js';
import { InfoController } from './info.controller.js';
import { LogsController } from './logs.controller.js';
import { LogsService } from './logs.service.js';
import { MetricsController } from './metrics.controller.js';
import { GatewayMetrics } from './metrics.js';
import { NamespacesController } from './namespaces.controller.js';
import { SchedulerClient } from './scheduler.client.js';
import { SecretsController } from './secrets.controller.js';
import { SecretsService } from './secrets.service.js';
import { GATEWAY_CONFIG } from './tokens.js';

@Module({})
export class AppModule {
  static forRoot(
    config: GatewayConfig,
    admin: AdminCredentials,
    opts: { defaultMetrics?: boolean; imageSources?: ImageSource[] } = {},
  ): DynamicModule {
    return {
      module: AppModule,
      controllers: [
        FunctionsController,
        FloeFunctionsController,
        SecretsController,
        NamespacesController,
        InfoController,
        LogsController,
        ImagesController,
        DeadLettersController,
        HealthController,
        MetricsController,
      ],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: APP_FILTER, useClass: FloeExceptionFilter },
        { provide: CredentialCheck, useValue: new CredentialCheck(admin) },
        { provide: AuthLimiter, useValue: new AuthLimiter() },
        { provide: ImageRefs, useValue: new ImageRefs(path.join(config.stateDir, 'gateway', 'uploads')) },
        {
          provide: ImageAvailability,
          inject: [ImageRefs],
          useFactory: (refs: ImageRefs) =>
            new ImageAvailability(refs, [
              registrySource(config.registry ?? { mirrors: {} }),
              ...(opts.imageSources ?? []),
            ]),
        },
        SchedulerClient,
        {
          provide: GatewayMetrics,
          inject: [FunctionsService],
          useFactory: (functions: FunctionsService) =>
            new GatewayMetrics(() => functions.replicas(), { defaultMetrics: opts.defaultMetrics }),
        },
        BasicAuthGuard,
        FunctionsService,
        SecretsService,
        LogsService,
        ImageUploadService,
        ImagePullService,
      ],
    };
  }
}
