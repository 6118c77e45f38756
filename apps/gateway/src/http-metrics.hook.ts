import type { FastifyInstance } from 'fastify';
import type { GatewayMetrics } from './metrics.js';

/**
 * Feeds http_requests_total / http_request_duration_seconds for every request on either
 * listener. The path label is the route template (`/function/*`, `/system/function/:name`),
 * never the raw URL, so label cardinality stays bounded.
 */
export function registerHttpMetrics(fastify: FastifyInstance, metrics: GatewayMetrics): void {
  fastify.addHook('onResponse', (req, reply, done) => {
    metrics.httpRequest(
      reply.statusCode,
      req.method,
      req.routeOptions.url ?? 'unmatched',
      reply.elapsedTime / 1000,
    );
    done();
  });
}
