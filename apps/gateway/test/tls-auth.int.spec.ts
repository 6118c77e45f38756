import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthLimiter } from '../src/auth-limiter.js';
import { bootGateway, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await bootGateway();
});
afterAll(() => h?.stop());

describe('gateway TLS, health and admin auth', () => {
  it('generates a self-signed cert and admin credentials on first start, mode 0600', () => {
    expect(h.gw.tls.generated).toBe(true);
    expect(h.gw.tls.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const file = path.join(h.stateDir, 'gateway/admin-credentials');
    expect(readFileSync(file, 'utf8').trim()).toBe(h.auth);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('speaks TLS 1.2 and refuses TLS 1.1 with a protocol-version alert from the server', async () => {
    const probe = (maxVersion: tls.SecureVersion) =>
      new Promise<string>((resolve) => {
        // SECLEVEL=0 lets the client offer TLS 1.1, so a refusal can only come from the server.
        const s = tls.connect(
          {
            port: h.gw.httpsPort,
            host: '127.0.0.1',
            ca: h.gw.tls.cert,
            servername: 'localhost',
            minVersion: 'TLSv1',
            maxVersion,
            ciphers: 'DEFAULT:@SECLEVEL=0',
          },
          () => {
            resolve(s.getProtocol() ?? '');
            s.end();
          },
        );
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
    expect(await probe('TLSv1.2')).toBe('TLSv1.2');
    expect(await probe('TLSv1.1')).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  });

  it('answers /healthz 200 with an agent, 503 naming what is missing without', async () => {
    expect((await h.api.send('GET', '/healthz')).status).toBe(200);
    h.fake.state.agents = 0;
    const r = await h.api.send('GET', '/healthz');
    h.fake.state.agents = 1;
    expect(r.status).toBe(503);
    expect(r.json().missing).toEqual(['agents: none registered']);
  });

  it('answers 401 with WWW-Authenticate without credentials and slows repeated failures', async () => {
    const none = await h.api.send('GET', '/system/functions');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="floe"');
    expect(none.json().error.code).toBe('UNAUTHENTICATED');
    const times: number[] = [];
    for (let i = 0; i < 4; i++)
      times.push((await h.api.send('GET', '/system/info', { auth: 'admin:wrong' })).ms);
    // Failures 1-3 (the credential-less one included) are free; the 4th waits 100 ms, the 5th 200 ms.
    expect(times[2]!).toBeGreaterThanOrEqual(100);
    expect(times[3]!).toBeGreaterThanOrEqual(200);
    const limiter = h.gw.app.get(AuthLimiter);
    expect(limiter.delayFor('127.0.0.1')).toBe(400); // the next attempt would wait
    const ok = await h.api.send('GET', '/system/info', { auth: h.auth });
    expect(ok.status).toBe(200);
    expect(ok.json().provider.provider).toBe('floe');
    // Success reset the client: read the limiter's own record instead of timing the next reply.
    expect(limiter.delayFor('127.0.0.1')).toBe(0);
    expect((await h.api.send('GET', '/system/info', { auth: 'admin:wrong' })).status).toBe(401);
    expect(limiter.delayFor('127.0.0.1')).toBe(0); // one failure since the reset: still free
    await h.api.send('GET', '/system/info', { auth: h.auth });
  });
});
