import type { Agent } from '@floe/agent-core';
import { Controller, Get, Header, Inject } from '@nestjs/common';
import { register } from 'prom-client';
import { AGENT } from './tokens.js';

/**
 * The agent's plain HTTP port: health and metrics only, which any local user may read. Function
 * logs leave only through the RPC port (`agent.logs`), which requires the cluster CA.
 */
@Controller()
export class HttpController {
  constructor(@Inject(AGENT) private readonly agent: Agent) {}

  @Get('healthz')
  healthz() {
    return {
      status: 'ok',
      id: this.agent.settings.id,
      pid: process.pid,
      containers: this.agent.pool.list().length,
    };
  }

  @Get('metrics')
  @Header('content-type', register.contentType)
  async metrics() {
    await this.agent.metrics.sample(this.agent.pool);
    return register.metrics();
  }
}
