import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Route config flag: hand the handler the raw request stream instead of a parsed body. */
export const RAW_STREAM = 'floeRawStream';

/**
 * The catch-all body parser of the management API (the invoke routes have their own).
 * Routes flagged RAW_STREAM get the request stream untouched (image uploads, never buffered).
 * Anything else but application/json (Fastify's parser) and multipart is read up to
 * FLOE_MAX_DEPLOY_BYTES and parsed as JSON when it looks like JSON: `curl -d` sends
 * `application/x-www-form-urlencoded`, and some OpenFaaS clients send no content type at all.
 */
export function registerBodyParsers(fastify: FastifyInstance, maxBytes: number): void {
  fastify.removeContentTypeParser('text/plain');
  fastify.addContentTypeParser('*', (req: FastifyRequest, payload, done) => {
    if ((req.routeOptions.config as unknown as Record<string, unknown> | undefined)?.[RAW_STREAM]) {
      done(null, payload);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    payload.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        payload.removeAllListeners('data');
        payload.resume();
        done(
          Object.assign(new Error(`request body exceeds ${maxBytes} bytes`), { statusCode: 413 }),
          undefined,
        );
        return;
      }
      chunks.push(c);
    });
    payload.on('error', (err) => done(err, undefined));
    payload.on('end', () => {
      if (size > maxBytes) return;
      const buf = Buffer.concat(chunks);
      const text = buf.toString('utf8').trim();
      if (text.startsWith('{') || text.startsWith('[')) {
        try {
          done(null, JSON.parse(text));
        } catch (err) {
          done(
            Object.assign(new Error(`body is not valid JSON: ${(err as Error).message}`), {
              statusCode: 400,
            }),
            undefined,
          );
        }
        return;
      }
      done(null, buf.length > 0 ? buf : undefined);
    });
  });
}
