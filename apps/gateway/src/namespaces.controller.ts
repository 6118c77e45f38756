import { SchedulerPatterns } from '@floe/contracts';
import { Controller, Get, Inject } from '@nestjs/common';
import { BasicAuth } from './basic-auth.guard.js';
import type { GatewayConfig } from './config.js';
import { SchedulerClient } from './scheduler.client.js';
import { GATEWAY_CONFIG } from './tokens.js';

/** OpenFaaS's GET /system/namespaces; the default namespace is always listed, as OpenFaaS does. */
@Controller('system')
@BasicAuth()
export class NamespacesController {
  constructor(
    @Inject(SchedulerClient) private readonly scheduler: SchedulerClient,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  @Get('namespaces')
  async list() {
    const names = await this.scheduler.call<string[]>(SchedulerPatterns.namespaces, {});
    return [...new Set([this.config.defaultNamespace, ...(names ?? [])])];
  }
}
