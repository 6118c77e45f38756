import type { FastifyInstance } from 'fastify';
import { AsyncInvokeHandler } from './async-invoke.handler.js';
import type { GatewayConfig } from './config.js';
import { sendError } from './error-reply.js';
import { InvokeHandler } from './invoke.handler.js';
import type { SchedulerClient } from './scheduler.client.js';

/** Every method a function may be called with (HEAD included: exposeHeadRoute is off). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * Registers the invocation routes directly on Fastify, in their own encapsulated context:
 * Nest's router, guards and interceptors would cost time on every call, and here every body,
 * whatever its content type (JSON included), arrives as one Buffer, never parsed. Bodies over
 * FLOE_MAX_BODY_BYTES are answered 413 by Fastify before the handler runs.
 */
export function registerInvokeRoutes(
  fastify: FastifyInstance,
  config: GatewayConfig,
  scheduler: SchedulerClient,
  handler: InvokeHandler,
): void {
  const asyncHandler = new AsyncInvokeHandler(config, scheduler);
  fastify.register(async (child) => {
    child.removeAllContentTypeParsers();
    child.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: config.maxBodyBytes },
      (_req, body, done) => done(null, body),
    );
    child.setErrorHandler((err, _req, reply) => sendError(reply, err));
    for (const prefix of ['/function', '/async-function']) {
      const handle = prefix === '/function' ? handler.handle : asyncHandler.handle;
      child.route({ method: METHODS, url: `${prefix}/*`, exposeHeadRoute: false, handler: handle });
    }
  });
}
