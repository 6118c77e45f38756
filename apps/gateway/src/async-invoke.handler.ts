import {
  type EnqueueRequest,
  type EnqueueResponse,
  InvalidArgumentError,
  NotFoundError,
} from '@floe/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayConfig } from './config.js';
import { sendError } from './error-reply.js';
import { parseFunctionPath } from './function-path.js';
import { callIdOf, invokeRequest } from './invoke.handler.js';
import { epochNanos } from './invoke-headers.js';
import type { SchedulerClient } from './scheduler.client.js';

/**
 * `/async-function/{name}[.{namespace}][/path]`: queue the call with the scheduler and answer
 * 202 with X-Call-Id at once, as OpenFaaS does. The result goes to X-Callback-Url, if given.
 */
export class AsyncInvokeHandler {
  constructor(
    private readonly config: GatewayConfig,
    private readonly scheduler: SchedulerClient,
  ) {}

  readonly handle = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const callId = callIdOf(req);
    const startNs = epochNanos();
    try {
      const target = parseFunctionPath(req.url, '/async-function/', this.config.defaultNamespace);
      if (!target) throw new NotFoundError('no function named in the path');
      const callbackUrl = callbackUrlOf(req.headers['x-callback-url']);
      const msg: EnqueueRequest = {
        request: invokeRequest(req, target, callId, startNs),
        ...(callbackUrl === undefined ? {} : { callbackUrl }),
      };
      const res: EnqueueResponse | undefined = await this.scheduler.enqueue(msg);
      return reply
        .code(202)
        .headers({ 'x-call-id': res?.callId ?? callId, 'x-start-time': startNs })
        .send();
    } catch (err) {
      return sendError(reply, err, { 'x-call-id': callId });
    }
  };
}

/** X-Callback-Url must be an absolute http(s) URL: the scheduler will POST the result there. */
export function callbackUrlOf(raw: string | string[] | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const value = Array.isArray(raw) ? raw[0]! : raw;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('X-Callback-Url', `not an absolute URL: '${value}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('X-Callback-Url', `expected http or https, got '${url.protocol}'`);
  return value;
}
