import type { Agent } from '@floe/agent-core';
import { Controller, Get, Header, Inject, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { register } from 'prom-client';
import { AGENT } from './tokens.js';

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

  /** NDJSON logs of one function; `follow=1` keeps the response open for new lines. */
  @Get('logs')
  async logs(
    @Query('name') name: string,
    @Query('namespace') namespace = 'openfaas-fn',
    @Query('tail') tail: string | undefined,
    @Query('since') since: string | undefined,
    @Query('follow') follow: string | undefined,
    @Res() res: FastifyReply,
  ) {
    const lines = await this.agent.readLogs(namespace, name, {
      tail: tail ? Number(tail) : undefined,
      since,
    });
    res.raw.writeHead(200, { 'content-type': 'application/x-ndjson' });
    for (const l of lines) res.raw.write(`${JSON.stringify(l)}\n`);
    if (follow !== '1' && follow !== 'true') return res.raw.end();
    const stop = this.agent.logs.follow(namespace, name, (l) => res.raw.write(`${JSON.stringify(l)}\n`));
    res.raw.on('close', stop);
  }
}
