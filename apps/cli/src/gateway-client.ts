import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { canonicalUrl, type GatewayLogin } from './config-store.js';
import { apiError, CliError, EXIT } from './errors.js';
import { changedCertificateError, pinnedTlsOptions, probeCertificate } from './tls-pin.js';

export interface RequestOptions {
  body?: Buffer | string | Readable;
  /** Byte length of a streamed body, sent as content-length. */
  length?: number;
  headers?: Record<string, string>;
  /** Send Basic auth (every /system and /floe call); invocations don't. */
  auth?: boolean;
  /** Called with the bytes of the body written so far. */
  onProgress?: (sent: number) => void;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const TLS_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);

/** One gateway, reached with the login's credentials and its pinned certificate. */
export class GatewayClient {
  readonly url: string;
  private readonly agent: http.Agent;

  constructor(private readonly login: GatewayLogin) {
    this.url = canonicalUrl(login.url);
    this.agent = this.url.startsWith('https:')
      ? new https.Agent({ keepAlive: true, ...(login.pin ? pinnedTlsOptions(login.pin) : {}) })
      : new http.Agent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  /** The response as a stream (logs -f); the caller reads it to the end. */
  async open(method: string, pathname: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const u = new URL(pathname, this.url);
    const headers: Record<string, string> = { 'user-agent': 'floe-cli', ...opts.headers };
    if (opts.auth !== false)
      headers.authorization = `Basic ${Buffer.from(`${this.login.user}:${this.login.password}`).toString('base64')}`;
    const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
    if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
    else if (opts.length !== undefined) headers['content-length'] = String(opts.length);
    const mod = u.protocol === 'https:' ? https : http;
    try {
      return await new Promise<IncomingMessage>((resolve, reject) => {
        const req = mod.request(u, { method, headers, agent: this.agent }, resolve);
        req.on('error', reject);
        if (!body) return req.end();
        if (Buffer.isBuffer(body)) {
          req.end(body);
          opts.onProgress?.(body.length);
          return;
        }
        let sent = 0;
        body.on('data', (c: Buffer) => {
          sent += c.length;
          opts.onProgress?.(sent);
        });
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      });
    } catch (err) {
      throw await this.explain(err as NodeJS.ErrnoException);
    }
  }

  async request(method: string, pathname: string, opts: RequestOptions = {}): Promise<Reply> {
    const res = await this.open(method, pathname, opts);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
  }

  /** A management call: JSON in and out; a status ≥ 400 throws the gateway's error. */
  async json<T = unknown>(method: string, pathname: string, body?: unknown): Promise<T> {
    const r = await this.request(method, pathname, {
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
    });
    if (r.status >= 400) throw apiError(r.status, r.body);
    const text = r.body.toString('utf8');
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private async explain(err: NodeJS.ErrnoException): Promise<CliError> {
    if (err instanceof CliError) return err;
    const code = err.code ?? '';
    if (TLS_ERRORS.has(code) || /certificate|fingerprint/i.test(err.message)) {
      if (this.login.pin) {
        const now = await probeCertificate(this.url).catch(() => undefined);
        if (now && now.sha256 !== this.login.pin.sha256)
          return changedCertificateError(this.url, this.login.pin.sha256, now.sha256);
      }
      return new CliError(
        `${this.url}: the certificate is not trusted (${code || err.message}); run: floe login ${this.url}`,
        EXIT.tls,
      );
    }
    if (code === 'ECONNREFUSED')
      return new CliError(`${this.url}: connection refused (is the gateway running?)`);
    return new CliError(`${this.url}: ${err.message}`);
  }
}
