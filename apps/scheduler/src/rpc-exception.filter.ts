import { FloeError } from '@floe/contracts';
import { ArgumentsHost, Catch, Logger } from '@nestjs/common';
import { BaseRpcExceptionFilter, RpcException } from '@nestjs/microservices';
import type { Observable } from 'rxjs';

/**
 * The scheduler's one exception filter: every error leaves as a SerializedError
 * (`RpcException(err.toJSON())`) so callers `reviveError` it and map its code. Anything
 * that is not a FloeError is a bug here and leaves as INTERNAL, logged with its stack.
 */
@Catch()
export class RpcErrorFilter extends BaseRpcExceptionFilter {
  private readonly logger = new Logger('rpc');

  override catch(exception: unknown, host: ArgumentsHost): Observable<unknown> {
    if (exception instanceof RpcException) return super.catch(exception, host);
    if (exception instanceof FloeError) return super.catch(new RpcException(exception.toJSON()), host);
    this.logger.error(
      exception instanceof Error ? (exception.stack ?? exception.message) : String(exception),
    );
    const internal = new FloeError(
      'INTERNAL',
      `scheduler: ${(exception as Error)?.message ?? 'internal error'}`,
    );
    return super.catch(new RpcException(internal.toJSON()), host);
  }
}
