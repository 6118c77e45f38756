import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * The optional plain-HTTP listener: a bare node:http server on loopback handing every request
 * to the same Fastify instance the HTTPS listener serves (`fastify.routing`), so both share
 * routes, hooks and handlers with no second app to keep in sync.
 */
export async function listenPlainHttp(
  fastify: FastifyInstance,
  where: { host: string; port: number },
): Promise<http.Server> {
  const server = http.createServer({ keepAlive: true }, (req, res) => fastify.routing(req, res));
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function portOf(server: { address(): AddressInfo | string | null }): number {
  const a = server.address();
  return typeof a === 'object' && a !== null ? a.port : 0;
}
