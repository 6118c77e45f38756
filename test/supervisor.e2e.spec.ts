import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform } from '../scripts/lib/platform.mjs';
import { startRedis } from '../scripts/lib/redis.mjs';
import { uniqueName } from './support/client.js';

const PASSWORD = 'supervisor-e2e-password';

/** `npm start`'s supervision: its own platform, started as npm start starts it (supervise: true). */
describe('npm start supervision', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-e2e-supervise-'));
  const logs: string[] = [];
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let platform: Awaited<ReturnType<typeof startPlatform>>;

  function call(
    method: string,
    pathname: string,
    body?: string | object,
    headers: Record<string, string> = {},
  ) {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(
        new URL(pathname, platform.url),
        {
          method,
          agent: false,
          rejectUnauthorized: false,
          headers: {
            authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`,
            ...(data === undefined ? {} : { 'content-length': String(Buffer.byteLength(data)) }),
            ...headers,
          },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => {
            text += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  beforeAll(async () => {
    redis = await startRedis({ dir: path.join(dir, 'redis') });
    platform = await startPlatform({
      stateDir: dir,
      redisUrl: redis.url,
      quiet: process.env.FLOE_E2E_VERBOSE !== '1',
      supervise: true,
      log: (m: string) => logs.push(m),
      env: { FLOE_ADMIN_PASSWORD: PASSWORD, FLOE_STEMCELLS: '0' },
    });
  }, 180_000);

  afterAll(async () => {
    await platform?.stop();
    redis?.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('restarts a scheduler killed with -9, answers again, and loses no accepted async call', async () => {
    const name = uniqueName('sup');
    const d = await call('POST', '/system/functions', { service: name, runtime: 'exec', envProcess: 'cat' });
    expect(d.status, d.text).toBe(202);
    const got: string[] = [];
    const srv = http.createServer((req, res) => {
      let b = '';
      req.on('data', (c) => {
        b += c;
      });
      req.on('end', () => {
        got.push(b);
        res.end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    try {
      const cb = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/cb`;
      const accepted = await call('POST', `/async-function/${name}`, 'survives', { 'x-callback-url': cb });
      expect(accepted.status).toBe(202);
      const old = platform.scheduler.child;
      const t0 = Date.now();
      old.kill('SIGKILL');
      // Answers again once the supervisor has started a new scheduler (the bench judges speed:
      // the time is printed, not asserted).
      let r = { status: 0, text: '' };
      for (let i = 0; i < 600 && r.status !== 200; i++) {
        r = await call('POST', `/function/${name}`, 'again').catch(() => ({ status: 0, text: '' }));
        if (r.status !== 200) await new Promise((res) => setTimeout(res, 100));
      }
      console.log(
        `supervision: the platform answered again ${Date.now() - t0} ms after kill -9 of the scheduler`,
      );
      expect(r).toEqual({ status: 200, text: 'again' });
      expect(platform.scheduler.child).not.toBe(old);
      expect(platform.scheduler.child.exitCode).toBeNull();
      expect(logs.some((l) => /scheduler exited \(SIGKILL\); restarting it in 1 s/.test(l))).toBe(true);
      expect(logs.some((l) => /scheduler restarted \(pid \d+\)/.test(l))).toBe(true);
      for (let i = 0; i < 600 && !got.includes('survives'); i++)
        await new Promise((res) => setTimeout(res, 100));
      expect(got).toContain('survives');
    } finally {
      srv.close();
    }
  });
});
