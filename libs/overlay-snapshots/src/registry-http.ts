import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FloeError, InvalidArgumentError } from '@floe/contracts';

/** Largest manifest, config or error body read into memory. */
export const JSON_MAX = 4 << 20;

export type Body = () => Buffer | AsyncIterable<Buffer>;

export function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}

/** The registry's reason from an error body (`{"errors":[{"code","message"}]}`), else the status. */
export function reasonOf(status: number, body: Buffer): string {
  try {
    const errs = (JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] })
      .errors;
    if (errs?.length) return `${status} ${errs.map((e) => `${e.code ?? ''}: ${e.message ?? ''}`).join('; ')}`;
  } catch {}
  return `${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
}

export async function readAll(res: AsyncIterable<Buffer>, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += c.length;
    if (n > max) throw new InvalidArgumentError('image', `${what} is larger than ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * The registry client's HTTP: keep-alive agents trusting the configured CAs, plain HTTP only
 * for loopback and `insecure` hosts (tried after TLS fails, as Docker does), redirects of GETs
 * followed with credentials dropped across hosts. Connection failures are UNAVAILABLE.
 */
export class RegistryHttp {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  /** Loopback/insecure hosts found to speak plain HTTP. */
  private readonly plain = new Set<string>();

  constructor(private readonly opts: { ca?: string[]; insecure?: string[]; timeoutMs?: number }) {
    this.httpsAgent = new https.Agent({ keepAlive: true, ...(opts.ca ? { ca: opts.ca } : {}) });
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }

  /** One request; a GET's redirects followed (credentials dropped when the host changes). */
  async send(
    url: string,
    headers: Record<string, string>,
    method: string,
    body?: Body,
  ): Promise<http.IncomingMessage> {
    let u = new URL(url);
    let h = headers;
    for (let hops = 0; hops < 6; hops++) {
      const res = await this.request(u, h, method, body);
      const loc = res.headers.location;
      if (method === 'GET' && res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && loc) {
        res.resume();
        const next = new URL(loc, u);
        if (next.host !== u.host) {
          const { authorization: _a, ...rest } = h;
          h = rest;
        }
        u = next;
        continue;
      }
      return res;
    }
    throw new FloeError('UNAVAILABLE', `${url}: too many redirects`);
  }

  private request(
    u: URL,
    headers: Record<string, string>,
    method: string,
    body?: Body,
  ): Promise<http.IncomingMessage> {
    const host = u.host;
    const mayBePlain = isLoopback(host) || (this.opts.insecure ?? []).includes(host);
    if (u.protocol === 'http:' && !mayBePlain)
      return Promise.reject(
        new FloeError(
          'FAILED_PRECONDITION',
          `${host}: plain HTTP is only allowed for loopback registries or those in FLOE_REGISTRY_INSECURE`,
          { fault: 'user', details: { field: 'image' } },
        ),
      );
    if (u.protocol === 'https:' && mayBePlain && this.plain.has(host))
      u = new URL(u.toString().replace(/^https:/, 'http:'));
    return this.once(u, headers, method, body).catch((e: NodeJS.ErrnoException) => {
      // A loopback or insecure registry may speak plain HTTP: Docker tries TLS first, then HTTP.
      const tlsMismatch =
        e.code === 'EPROTO' ||
        e.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
        /wrong version number|ECONNRESET/.test(`${e.code} ${e.message}`);
      if (u.protocol === 'https:' && mayBePlain && tlsMismatch) {
        this.plain.add(host);
        return this.once(new URL(u.toString().replace(/^https:/, 'http:')), headers, method, body);
      }
      throw new FloeError('UNAVAILABLE', `registry ${host}: ${e.message}`, { cause: e });
    });
  }

  private once(
    u: URL,
    headers: Record<string, string>,
    method: string,
    body?: Body,
  ): Promise<http.IncomingMessage> {
    const lib = u.protocol === 'https:' ? https : http;
    const agent = u.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    return new Promise((resolve, reject) => {
      const req = lib.request(u, { method, headers: { 'user-agent': 'floe', ...headers }, agent }, resolve);
      const b = body?.();
      if (!b) req.end();
      else if (Buffer.isBuffer(b)) req.end(b);
      else
        pipeline(Readable.from(b), req).catch((e) => {
          req.destroy(e);
          reject(e);
        });
      req.setTimeout(this.opts.timeoutMs ?? 30_000, () =>
        req.destroy(new Error(`no answer in ${this.opts.timeoutMs ?? 30_000} ms`)),
      );
      req.on('error', reject);
    });
  }
}
