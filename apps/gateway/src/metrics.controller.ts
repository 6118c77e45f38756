import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { GatewayMetrics } from './metrics.js';

/**
 * Prometheus scrape endpoint, unauthenticated on both listeners (as OpenFaaS serves its
 * gateway metrics): it exposes function names and counts, never payloads or secrets.
 */
@Controller()
export class MetricsController {
  constructor(@Inject(GatewayMetrics) private readonly metrics: GatewayMetrics) {}

  @Get('metrics')
  async scrape(@Res() reply: FastifyReply) {
    reply.type(this.metrics.contentType()).send(await this.metrics.render());
  }
}
