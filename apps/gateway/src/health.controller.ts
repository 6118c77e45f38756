import { type AgentInfo, SchedulerPatterns } from '@floe/contracts';
import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { SchedulerClient } from './scheduler.client.js';

/** GET /healthz: 200 once the scheduler answers and at least one agent is registered; else 503 saying what's missing. */
@Controller()
export class HealthController {
  constructor(@Inject(SchedulerClient) private readonly scheduler: SchedulerClient) {}

  @Get('healthz')
  async healthz(@Res() reply: FastifyReply) {
    let agents: AgentInfo[];
    try {
      agents = (await this.scheduler.call<AgentInfo[]>(SchedulerPatterns.agents, {}, 2000)) ?? [];
    } catch (err) {
      const missing = [`scheduler: ${(err as Error).message}`];
      return reply.code(503).send({ status: 'unavailable', scheduler: false, agents: 0, missing });
    }
    if (agents.length === 0)
      return reply
        .code(503)
        .send({ status: 'unavailable', scheduler: true, agents: 0, missing: ['agents: none registered'] });
    return reply.send({ status: 'ok', scheduler: true, agents: agents.length });
  }
}
