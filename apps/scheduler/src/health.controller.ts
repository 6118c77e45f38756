import { SchedulerPatterns } from '@floe/contracts';
import { Controller, Get, Inject } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import type { Redis } from 'ioredis';
import { REDIS } from './tokens.js';

@Controller()
export class HealthController {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  @Get('healthz')
  async healthz() {
    return { status: 'ok', redis: await this.redisUp() };
  }

  @MessagePattern(SchedulerPatterns.health)
  async rpcHealth() {
    return { status: 'ok', redis: await this.redisUp() };
  }

  private async redisUp(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }
}
