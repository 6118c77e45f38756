import { FloeError } from '@floe/contracts';
import { type ArgumentsHost, Catch, type RpcExceptionFilter } from '@nestjs/common';
import { throwError } from 'rxjs';

/** The agent's one exception filter: every error crosses RPC as a SerializedError with a code. */
@Catch()
export class FloeRpcExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(err: unknown, _host: ArgumentsHost) {
    if (err instanceof FloeError) return throwError(() => err.toJSON());
    const e = err as Error;
    return throwError(() => ({
      code: 'INTERNAL',
      message: `agent: ${e?.message ?? String(err)}`,
      fault: 'platform',
      details: {},
    }));
  }
}
