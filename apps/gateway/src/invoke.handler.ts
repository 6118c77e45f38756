import { randomUUID } from 'node:crypto';
import { FloeError, type InvokeRequest, NotFoundError } from '@floe/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayConfig } from './config.js';
import { sendError } from './error-reply.js';
import { type FunctionTarget, parseFunctionPath } from './function-path.js';
import { toHttpError } from './http-error.js';
import { callerResponseHeaders, epochNanos, functionRequestHeaders } from './invoke-headers.js';
import type { GatewayMetrics } from './metrics.js';
import type { SchedulerClient } from './scheduler.client.js';

const EMPTY = Buffer.alloc(0);

/**
 * `/function/{name}[.{namespace}][/path]`, any method: the hot path. One RPC to the scheduler,
 * no Redis, nothing looked up per request that could be computed once. The function's own
 * status, headers and body pass through; the gateway adds X-Call-Id, X-Start-Time,
 * X-Duration-Seconds and X-Floe-Start.
 */
export class InvokeHandler {
  private inflight = 0;

  constructor(
    private readonly config: GatewayConfig,
    private readonly scheduler: SchedulerClient,
    private readonly metrics: GatewayMetrics,
  ) {}

  readonly handle = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const startNs = epochNanos();
    const callId = callIdOf(req);
    const target = parseFunctionPath(req.url, '/function/', this.config.defaultNamespace);
    if (!target)
      return sendError(reply, new NotFoundError('no function named in the path'), { 'x-call-id': callId });
    const fn = `${target.name}.${target.namespace}`;
    this.metrics.invocationBegan(fn);
    // Shedding here, before any RPC, keeps a flood from queueing unbounded work in the scheduler.
    if (this.inflight >= this.config.maxInflight) {
      this.metrics.invocationEnded(fn, 429, reply.elapsedTime / 1000);
      return sendError(
        reply,
        new FloeError('RESOURCE_EXHAUSTED', `gateway overloaded: ${this.inflight} invocations in flight`),
        { 'x-call-id': callId },
      );
    }
    this.inflight++;
    try {
      const res = await this.scheduler.invoke(
        // No deadline: the scheduler derives it from the function's own timeout (com.floe.timeout);
        // the gateway's timeout is only an upper bound for a scheduler that never answers.
        invokeRequest(req, target, callId, startNs),
        this.config.invokeTimeoutMs,
      );
      // From the moment Fastify saw the request (body read included) to now.
      const seconds = reply.elapsedTime / 1000;
      this.metrics.invocationEnded(fn, res.status, seconds, res.start, res.functionMs / 1000);
      return reply
        .code(res.status)
        .headers(
          callerResponseHeaders(res.headers, { callId, startNs, durationSeconds: seconds, start: res.start }),
        )
        .send(Buffer.isBuffer(res.body) ? res.body : EMPTY);
    } catch (err) {
      const seconds = reply.elapsedTime / 1000;
      const status = toHttpError(err).status;
      if (status === 404) this.metrics.invocationAbandoned();
      else this.metrics.invocationEnded(fn, status, seconds);
      return sendError(
        reply,
        err,
        callerResponseHeaders(undefined, { callId, startNs, durationSeconds: seconds }),
      );
    } finally {
      this.inflight--;
    }
  };
}

/** The caller's X-Call-Id if it sent one (OpenFaaS keeps it), else a fresh one. */
export function callIdOf(req: FastifyRequest): string {
  const given = req.headers['x-call-id'];
  return typeof given === 'string' && given !== '' && given.length <= 128 ? given : randomUUID();
}

/** The InvokeRequest for one call; its body is the request's bytes as Fastify read them. */
export function invokeRequest(
  req: FastifyRequest,
  target: FunctionTarget,
  callId: string,
  startNs: string,
  deadline?: number,
): InvokeRequest {
  const body = req.body;
  return {
    callId,
    function: target.name,
    namespace: target.namespace,
    method: req.method,
    path: target.path,
    query: target.query,
    headers: functionRequestHeaders(req.headers, callId, startNs, req.socket.remoteAddress),
    body: Buffer.isBuffer(body) ? body : EMPTY,
    ...(deadline === undefined ? {} : { deadline }),
  };
}
