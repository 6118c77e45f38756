import { setTimeout as sleep } from 'node:timers/promises';
import {
  applyDecorators,
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthLimiter } from './auth-limiter.js';
import { CredentialCheck, parseBasicAuth } from './basic-auth.js';
import { GatewayMetrics } from './metrics.js';

/**
 * Basic auth with the admin credentials, slowing down repeated failures per client IP.
 * Use through the `@BasicAuth()` decorator, as OpenFaaS wraps handlers in DecorateWithBasicAuth.
 */
@Injectable()
export class BasicAuthGuard implements CanActivate {
  constructor(
    @Inject(CredentialCheck) private readonly check: CredentialCheck,
    @Inject(AuthLimiter) private readonly limiter: AuthLimiter,
    @Inject(GatewayMetrics) private readonly metrics: GatewayMetrics,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const http = ctx.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const ip = req.ip;
    const delay = this.limiter.delayFor(ip);
    if (delay > 0) await sleep(delay);
    const given = parseBasicAuth(req.headers.authorization);
    if (this.check.matches(given)) {
      this.limiter.success(ip);
      return true;
    }
    this.limiter.failure(ip);
    this.metrics.authFailure();
    http.getResponse<FastifyReply>().header('www-authenticate', 'Basic realm="floe"');
    throw new UnauthorizedException(
      given ? 'invalid admin credentials' : 'admin credentials required (HTTP Basic auth)',
    );
  }
}

/** Guards a controller or route with the admin's Basic auth. */
export const BasicAuth = () => applyDecorators(UseGuards(BasicAuthGuard));
