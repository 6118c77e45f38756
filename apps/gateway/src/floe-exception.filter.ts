import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { sendError } from './error-reply.js';
import { toHttpError } from './http-error.js';

/**
 * The gateway's one exception filter: FloeErrors (local or revived from the scheduler),
 * Nest HTTP exceptions and Fastify parser errors all become `{ error: { code, message,
 * field?, fault } }` with the status from the code table in http-error.ts.
 */
@Catch()
export class FloeExceptionFilter implements ExceptionFilter {
  private readonly log = new Logger('gateway');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (toHttpError(exception).status >= 500) this.log.error(exception);
    // A streaming handler (logs) may have sent headers already; all we can do is stop.
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    sendError(reply, exception);
  }
}
