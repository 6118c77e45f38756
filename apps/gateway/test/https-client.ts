import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  ms: number;
  text(): string;
  json(): any;
}

/** A keep-alive HTTPS client that trusts exactly the gateway's certificate. */
export function client(base: string, ca?: Buffer) {
  const secure = base.startsWith('https:');
  const agent = secure ? new https.Agent({ keepAlive: true, ca }) : new http.Agent({ keepAlive: true });
  const send = (
    method: string,
    path: string,
    opts: { headers?: Record<string, string>; body?: Buffer | string | Readable; auth?: string } = {},
  ) =>
    new Promise<Answer>((resolve, reject) => {
      const t0 = performance.now();
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
      if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body))
        headers['content-length'] = String(Buffer.byteLength(opts.body));
      const req = (secure ? https : http).request(new URL(path, base), { method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            ms: performance.now() - t0,
            text: () => body.toString('utf8'),
            json: () => JSON.parse(body.toString('utf8')),
          });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (opts.body === undefined) req.end();
      else if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) req.end(opts.body);
      else {
        // Node holds the headers back until the first body write; a test that sends nothing
        // yet (to see the server answer early) needs them out now.
        req.flushHeaders();
        opts.body.pipe(req);
      }
    });
  return { send, agent, close: () => agent.destroy() };
}
