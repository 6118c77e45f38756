import { Controller, Get, Inject, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BasicAuth } from './basic-auth.guard.js';
import { type LogsQuery, LogsService } from './logs.service.js';

/** OpenFaaS's GET /system/logs?name=&namespace=&tail=&follow=&since= (NDJSON). */
@Controller('system')
@BasicAuth()
export class LogsController {
  constructor(@Inject(LogsService) private readonly logs: LogsService) {}

  @Get('logs')
  stream(@Query() query: LogsQuery, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.logs.stream(query, req, reply);
  }
}
