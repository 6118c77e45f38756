import type { FastifyReply } from 'fastify';
import { toHttpError } from './http-error.js';

/**
 * Answers `err` as the gateway's JSON error. The one exception filter and the raw invoke
 * routes both end here, so every error has the same shape whichever layer caught it.
 */
export function sendError(
  reply: FastifyReply,
  err: unknown,
  extraHeaders?: Record<string, string>,
): FastifyReply {
  const e = toHttpError(err);
  reply.code(e.status).headers(e.headers);
  if (extraHeaders) reply.headers(extraHeaders);
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(e.body));
}
