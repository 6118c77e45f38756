import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  json: () => any;
}

// The gateway's cert is self-signed on first start: e2e clients accept it, as `curl -k` does.
const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });

export function floe() {
  return inject('floe');
}

export function request(
  method: string,
  pathname: string,
  opts: {
    body?: string | Buffer | object;
    headers?: Record<string, string>;
    auth?: boolean | [string, string];
  } = {},
): Promise<HttpResult> {
  const f = floe();
  const url = new URL(pathname, f.url);
  const headers: Record<string, string> = { ...opts.headers };
  let body: Buffer | undefined;
  if (opts.body !== undefined) {
    body = Buffer.isBuffer(opts.body)
      ? opts.body
      : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
    if (typeof opts.body === 'object' && !Buffer.isBuffer(opts.body))
      headers['content-type'] ??= 'application/json';
    // Node frames a DELETE body neither by length nor chunked unless told: the server would
    // read the body as the next request on the kept-alive connection.
    headers['content-length'] ??= String(body.length);
  }
  if (opts.auth) {
    const [u, p] = opts.auth === true ? [f.user, f.password] : opts.auth;
    headers.authorization = `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  }
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: buf,
          text,
          json: () => JSON.parse(text),
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A tar.gz of the given files, base64-encoded, as Floe's deploy-with-code takes it. */
export function codeArchive(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-e2e-code-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    return execFileSync('tar', ['-C', dir, '-cz', '.']).toString('base64');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

export async function deploy(fn: Record<string, unknown>): Promise<HttpResult> {
  return request('POST', '/system/functions', { body: fn, auth: true });
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The count of calls that went `route` in a gateway's /metrics text (floe_gateway_invoke_route_total). */
export function routeCount(metrics: string, route: string): number {
  const m = new RegExp(`^floe_gateway_invoke_route_total\\{route="${route}"\\} (\\d+)`, 'm').exec(metrics);
  return Number(m?.[1] ?? 0);
}

/** The shared platform's gateway's count of calls that went `route`. */
export async function routed(route: string): Promise<number> {
  return routeCount((await request('GET', '/metrics')).text, route);
}

/** Drops kept-alive connections so the worker can exit at once. */
export function closeClient(): void {
  agent.destroy();
}
