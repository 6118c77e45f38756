import { type DeadLettersRequest, SchedulerPatterns } from '@floe/contracts';
import { Controller, Get, Inject, Query } from '@nestjs/common';
import { BasicAuth } from './basic-auth.guard.js';
import { SchedulerClient } from './scheduler.client.js';

/** Async calls that exhausted their attempts (newest first). */
@Controller('floe/async')
@BasicAuth()
export class DeadLettersController {
  constructor(@Inject(SchedulerClient) private readonly scheduler: SchedulerClient) {}

  @Get('dead-letters')
  list(@Query('namespace') namespace?: string, @Query('limit') limit?: string) {
    const msg: DeadLettersRequest = { limit: Math.min(Math.max(Number(limit) || 100, 1), 1000), namespace };
    return this.scheduler.call(SchedulerPatterns.deadLetters, msg);
  }
}
