import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import tls from 'node:tls';
import { EnvReader, SchedulerPatterns } from '@floe/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type Gateway, startGateway } from '../src/gateway.js';
import { startFakeScheduler } from './fake-scheduler.js';
import { client } from './https-client.js';

let gw: Gateway;
let fake: Awaited<ReturnType<typeof startFakeScheduler>>;
let api: ReturnType<typeof client>;
let stateDir: string;
let auth: string;

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'floe-gw-'));
  fake = await startFakeScheduler();
  const config = loadConfig(
    new EnvReader({
      FLOE_STATE_DIR: stateDir,
      FLOE_GATEWAY_HOST: '127.0.0.1',
      FLOE_GATEWAY_PORT: '0',
      FLOE_GATEWAY_HTTP_PORT: '0',
      FLOE_SCHEDULER_RPC: `127.0.0.1:${fake.port}`,
      FLOE_MAX_BODY_BYTES: '1Mi',
      FLOE_MAX_IMAGE_BYTES: '60Mi',
      FLOE_LOGS_POLL_MS: '100',
      FLOE_INVOKE_TIMEOUT_MS: '1000',
    }),
  );
  gw = await startGateway(config, { logger: false });
  api = client(`https://localhost:${gw.httpsPort}`, gw.tls.cert);
  auth = `${gw.admin.user}:${gw.admin.password}`;
});

afterAll(async () => {
  api?.close();
  await gw?.close();
  await fake?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('gateway over HTTPS', () => {
  it('generates a self-signed cert and admin credentials on first start, mode 0600', () => {
    expect(gw.tls.generated).toBe(true);
    expect(gw.tls.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const file = path.join(stateDir, 'gateway/admin-credentials');
    expect(readFileSync(file, 'utf8').trim()).toBe(auth);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('speaks TLS 1.2 and refuses TLS 1.1 with a protocol-version alert from the server', async () => {
    const probe = (maxVersion: tls.SecureVersion) =>
      new Promise<string>((resolve) => {
        // SECLEVEL=0 lets the client offer TLS 1.1, so a refusal can only come from the server.
        const s = tls.connect(
          {
            port: gw.httpsPort,
            host: '127.0.0.1',
            ca: gw.tls.cert,
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
    expect((await api.send('GET', '/healthz')).status).toBe(200);
    fake.state.agents = 0;
    const r = await api.send('GET', '/healthz');
    fake.state.agents = 1;
    expect(r.status).toBe(503);
    expect(r.json().missing).toEqual(['agents: none registered']);
  });

  it('deploys 202 and lists exactly what was sent (absent stays absent)', async () => {
    const d = { service: 'echo', image: 'floe/echo:1', labels: { team: 'a' } };
    const r = await api.send('POST', '/system/functions', {
      auth,
      body: JSON.stringify(d),
      headers: { 'content-type': 'application/json' },
    });
    expect(r.status).toBe(202);
    expect(fake.state.seen(SchedulerPatterns.deploy).at(-1)).toEqual(d);
    const list = await api.send('GET', '/system/functions', { auth });
    expect(list.status).toBe(200);
    const fn = list.json().find((f: { name: string }) => f.name === 'echo');
    expect(fn).toMatchObject({ ...d, name: 'echo', namespace: 'openfaas-fn', replicas: 1 });
    expect(fn).not.toHaveProperty('envVars');
    expect(fn).not.toHaveProperty('annotations');
  });

  it.each([[undefined], ['application/x-www-form-urlencoded'], ['text/plain']])(
    'parses a JSON deployment sent as %s (no type; curl -d), as OpenFaaS clients do',
    async (type) => {
      const body = JSON.stringify({ service: 'echo2', image: 'x' });
      const r = await api.send('POST', '/system/functions', {
        auth,
        body,
        headers: type ? { 'content-type': type } : {},
      });
      expect(r.status).toBe(202);
      expect(fake.state.seen(SchedulerPatterns.deploy).at(-1)).toEqual({ service: 'echo2', image: 'x' });
    },
  );

  it('answers 400 for a malformed JSON body', async () => {
    const r = await api.send('POST', '/system/functions', {
      auth,
      body: '{"service":',
      headers: { 'content-type': 'application/json' },
    });
    expect(r.status).toBe(400);
    expect(r.json().error.code).toBe('INVALID_ARGUMENT');
  });

  it('answers 400 naming the field of an invalid deployment', async () => {
    const r = await api.send('POST', '/system/functions', {
      auth,
      body: JSON.stringify({ service: 'ok', image: 'x', limits: { memory: 'lots' } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'limits.memory', fault: 'user' });
  });

  it('deletes 202, and 404 with a JSON body for an unknown function', async () => {
    await api.send('POST', '/system/functions', {
      auth,
      body: JSON.stringify({ service: 'gone', image: 'x' }),
    });
    const body = JSON.stringify({ functionName: 'gone' });
    expect(
      (
        await api.send('DELETE', '/system/functions', {
          auth,
          body,
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(202);
    const again = await api.send('DELETE', '/system/functions', {
      auth,
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(again.status).toBe(404);
    expect(again.json().error.code).toBe('NOT_FOUND');
  });

  it('answers 401 with WWW-Authenticate without credentials and slows repeated failures', async () => {
    const none = await api.send('GET', '/system/functions');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="floe"');
    expect(none.json().error.code).toBe('UNAUTHENTICATED');
    const times: number[] = [];
    for (let i = 0; i < 4; i++)
      times.push((await api.send('GET', '/system/info', { auth: 'admin:wrong' })).ms);
    // Failures 1-3 (the credential-less one included) are free; the 4th waits 100 ms, the 5th 200 ms.
    expect(times[2]!).toBeGreaterThanOrEqual(100);
    expect(times[3]!).toBeGreaterThanOrEqual(200);
    const ok = await api.send('GET', '/system/info', { auth });
    expect(ok.status).toBe(200);
    expect(ok.json().provider.provider).toBe('floe');
    // Success reset the client: the next failure is immediate again.
    expect((await api.send('GET', '/system/info', { auth: 'admin:wrong' })).ms).toBeLessThan(100);
    await api.send('GET', '/system/info', { auth });
  });

  it('invokes: status, headers and a binary body pass through, stamped by the gateway', async () => {
    const body = Buffer.from([0, 1, 2, 255, 254, 0, 10, 13]);
    const r = await api.send('POST', '/function/echo/sub/path?q=1', {
      body,
      headers: { 'content-type': 'application/x-bin', 'x-want-status': '201', 'x-call-id': 'my-call' },
    });
    expect(r.status).toBe(201);
    expect(r.body.equals(body)).toBe(true);
    expect(r.headers['content-type']).toBe('application/x-bin');
    expect(r.headers['x-echo-path']).toBe('/sub/path');
    expect(r.headers['x-call-id']).toBe('my-call');
    expect(r.headers['x-floe-start']).toBe('warm');
    expect(r.headers['x-duration-seconds']).toMatch(/^\d+\.\d{6}$/);
    expect(r.headers['x-start-time']).toMatch(/^\d{19}$/);
    expect(fake.state.lastInvoke).toMatchObject({
      function: 'echo',
      namespace: 'openfaas-fn',
      method: 'POST',
      query: 'q=1',
    });
    expect(fake.state.lastInvoke!.headers['x-call-id']).toBe('my-call');
  });

  it('passes a JSON body through unparsed and generates a call id', async () => {
    const raw = '{"a": 1,   "b":[2]}';
    const r = await api.send('PUT', '/function/echo.openfaas-fn', {
      body: raw,
      headers: { 'content-type': 'application/json' },
    });
    expect(r.status).toBe(200);
    expect(r.text()).toBe(raw);
    expect(r.headers['x-call-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 404 for an unknown function', async () => {
    const r = await api.send('GET', '/function/nope');
    expect(r.status).toBe(404);
    expect(r.json().error).toMatchObject({ code: 'NOT_FOUND', fault: 'user' });
  });

  it('answers 413 for a body over FLOE_MAX_BODY_BYTES', async () => {
    const r = await api.send('POST', '/function/echo', { body: Buffer.alloc(1024 * 1024 + 1) });
    expect(r.status).toBe(413);
    expect(r.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('maps overload to 429 + Retry-After, timeout to 504, a crash to 502 saying whose fault', async () => {
    const busy = await api.send('GET', '/function/busy');
    expect(busy.status).toBe(429);
    expect(busy.headers['retry-after']).toBe('2');
    const slow = await api.send('GET', '/function/slow');
    expect(slow.status).toBe(504);
    const crash = await api.send('GET', '/function/crash');
    expect(crash.status).toBe(502);
    expect(crash.json().error).toEqual({
      code: 'FUNCTION_FAILED',
      message: 'function crashed: OOMKilled (limit 128Mi)',
      fault: 'user',
    });
  });

  it('answers 504 when the scheduler never answers within FLOE_INVOKE_TIMEOUT_MS', async () => {
    const r = await api.send('GET', '/function/hang');
    expect(r.status).toBe(504);
    expect(r.json().error).toMatchObject({ code: 'DEADLINE_EXCEEDED', fault: 'platform' });
    expect(r.ms).toBeGreaterThanOrEqual(900);
  });

  it("maps the scheduler's api-key verdicts to 401 and 403", async () => {
    expect((await api.send('GET', '/function/keyed')).status).toBe(401);
    expect((await api.send('GET', '/function/keyed', { headers: { 'x-api-key': 'nope' } })).status).toBe(403);
    expect((await api.send('GET', '/function/keyed', { headers: { 'x-api-key': 'k1' } })).status).toBe(200);
  });

  it('answers HEAD on a function without a body', async () => {
    const r = await api.send('HEAD', '/function/echo');
    expect(r.status).toBe(200);
    expect(r.headers['x-call-id']).toBeTruthy();
    expect(fake.state.lastInvoke!.method).toBe('HEAD');
  });

  it('queues async calls: 202 with X-Call-Id, callback URL passed on', async () => {
    const r = await api.send('POST', '/async-function/echo/x', {
      body: 'later',
      headers: { 'x-callback-url': 'http://127.0.0.1:9/cb' },
    });
    expect(r.status).toBe(202);
    expect(r.headers['x-call-id']).toBeTruthy();
    const msg = fake.state.seen(SchedulerPatterns.enqueue).at(-1) as {
      request: { body: string; path: string };
      callbackUrl: string;
    };
    expect(msg.callbackUrl).toBe('http://127.0.0.1:9/cb');
    expect(Buffer.from(msg.request.body, 'base64').toString()).toBe('later');
    const bad = await api.send('POST', '/async-function/echo', { headers: { 'x-callback-url': 'ftp://x' } });
    expect(bad.status).toBe(400);
    expect(bad.json().error.field).toBe('X-Callback-Url');
  });

  it('streams a 50 MB image upload to disk without buffering it', async () => {
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
    const hash = createHash('sha256');
    for (let i = 0; i < 50; i++) hash.update(chunk);
    const want = hash.digest('hex');
    const body = new PassThrough();
    const answer = api.send('POST', '/floe/images?ref=floe/demo:1', {
      auth,
      body,
      headers: { 'content-type': 'application/x-tar', 'content-length': String(50 * chunk.length) },
    });
    // Send 10 MB, then hold the rest back: a buffering server would have nothing on disk yet.
    for (let i = 0; i < 10; i++) body.write(chunk);
    const uploads = path.join(stateDir, 'gateway/uploads');
    const partial = async () => {
      for (let i = 0; i < 200; i++) {
        const tmp = existsSync(uploads)
          ? readdirSync(uploads).find((f) => f.startsWith('.upload-'))
          : undefined;
        if (tmp && statSync(path.join(uploads, tmp)).size >= 8 * chunk.length)
          return statSync(path.join(uploads, tmp)).size;
        await new Promise((r) => setTimeout(r, 25));
      }
      return 0;
    };
    const onDiskMidway = await partial();
    expect(onDiskMidway).toBeGreaterThanOrEqual(8 * chunk.length);
    expect(onDiskMidway).toBeLessThanOrEqual(10 * chunk.length);
    for (let i = 10; i < 50; i++) body.write(chunk);
    body.end();
    const r = await answer;
    expect(r.status).toBe(201);
    const up = r.json();
    expect(up).toMatchObject({ ref: 'floe/demo:1', sha256: want, bytes: 50 * chunk.length });
    expect(up.archive).toBe(path.join(stateDir, 'gateway/uploads', `${want}.tar`));
    expect(statSync(up.archive).size).toBe(50 * chunk.length);
    // A deploy with that ref gets the archive path as annotation com.floe.image-archive.
    await api.send('POST', '/system/functions', {
      auth,
      body: JSON.stringify({ service: 'demo', image: 'floe/demo:1' }),
    });
    const sent = fake.state.seen(SchedulerPatterns.deploy).at(-1) as { annotations: Record<string, string> };
    expect(sent.annotations['com.floe.image-archive']).toBe(up.archive);
  });

  it('answers 413 at once for an image announced larger than FLOE_MAX_IMAGE_BYTES, and 400 for a bad ref', async () => {
    const body = new PassThrough();
    const big = client(`https://localhost:${gw.httpsPort}`, gw.tls.cert);
    const r = await big.send('POST', '/floe/images?ref=big:1', {
      auth,
      body,
      headers: { 'content-type': 'application/x-tar', 'content-length': String(61 * 1024 * 1024) },
    });
    big.close();
    body.destroy();
    expect(r.status).toBe(413);
    expect(r.json().error.message).toContain('FLOE_MAX_IMAGE_BYTES');
    const bad = await api.send('POST', '/floe/images?ref=Not%20A%20Ref', { auth, body: 'x' });
    expect(bad.json().error.field).toBe('ref');
  });

  it('deploys code as multipart/form-data on POST /floe/functions', async () => {
    const boundary = 'floe-boundary';
    const code = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="deployment"\r\n\r\n` +
          JSON.stringify({ service: 'mp', runtime: 'node', handler: 'index.js' }) +
          `\r\n--${boundary}\r\nContent-Disposition: form-data; name="code"; filename="code.tgz"\r\n` +
          'Content-Type: application/gzip\r\n\r\n',
      ),
      code,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const r = await api.send('POST', '/floe/functions', {
      auth,
      body,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(r.status).toBe(202);
    expect(fake.state.seen(SchedulerPatterns.deploy).at(-1)).toEqual({
      service: 'mp',
      runtime: 'node',
      handler: 'index.js',
      code: code.toString('base64'),
    });
  });

  it('gets one function, scales 202, lists versions, rolls back and lists dead letters', async () => {
    const one = await api.send('GET', '/system/function/echo?namespace=openfaas-fn', { auth });
    expect(one.json()).toMatchObject({ name: 'echo', image: 'floe/echo:1' });
    expect((await api.send('GET', '/system/function/none', { auth })).status).toBe(404);
    const json = { 'content-type': 'application/json' };
    const scale = await api.send('POST', '/system/scale-function/echo', {
      auth,
      headers: json,
      body: JSON.stringify({ serviceName: 'echo', replicas: 3 }),
    });
    expect(scale.status).toBe(202);
    expect(fake.state.seen(SchedulerPatterns.scale).at(-1)).toEqual({
      name: 'echo',
      namespace: 'openfaas-fn',
      replicas: 3,
    });
    const bad = await api.send('POST', '/system/scale-function/echo', {
      auth,
      headers: json,
      body: '{"replicas":-1}',
    });
    expect(bad.json().error.field).toBe('replicas');
    const versions = await api.send('GET', '/floe/functions/echo/versions', { auth });
    expect(versions.json()).toEqual([{ version: 1, createdAt: '2026-01-01T00:00:00Z', active: true }]);
    const rb = await api.send('POST', '/floe/functions/echo/rollback', {
      auth,
      headers: json,
      body: '{"version":1}',
    });
    expect(rb.status).toBe(202);
    expect(fake.state.seen(SchedulerPatterns.rollback).at(-1)).toEqual({
      name: 'echo',
      namespace: 'openfaas-fn',
      version: 1,
    });
    expect((await api.send('GET', '/floe/async/dead-letters?limit=5', { auth })).json()).toEqual([]);
    expect(fake.state.seen(SchedulerPatterns.deadLetters).at(-1)).toEqual({ limit: 5 });
    expect((await api.send('GET', '/system/namespaces', { auth })).json()).toEqual(['openfaas-fn']);
  });

  it('creates 201, lists names only, updates 202, deletes 202 secrets', async () => {
    const json = { 'content-type': 'application/json' };
    const put = (method: string, body: object) =>
      api.send(method, '/system/secrets', { auth, headers: json, body: JSON.stringify(body) });
    expect((await put('POST', { name: 'db', value: 'pw' })).status).toBe(201);
    expect((await put('POST', { name: 'db', value: 'pw' })).status).toBe(409);
    expect((await put('PUT', { name: 'db', rawValue: Buffer.from([0, 1]).toString('base64') })).status).toBe(
      202,
    );
    expect((await put('PUT', { name: 'db' })).json().error.field).toBe('value');
    expect((await api.send('GET', '/system/secrets', { auth })).json()).toEqual([
      { name: 'db', namespace: 'openfaas-fn' },
    ]);
    expect((await put('DELETE', { name: 'db' })).status).toBe(202);
    expect((await put('DELETE', { name: 'db' })).status).toBe(404);
  });

  it('streams logs as NDJSON and keeps following', async () => {
    fake.state.logs.push({
      name: 'echo',
      namespace: 'openfaas-fn',
      instance: 'i-1',
      timestamp: '2026-01-01T00:00:00.000Z',
      text: 'one',
    });
    const once = await api.send('GET', '/system/logs?name=echo&tail=10', { auth });
    expect(once.status).toBe(200);
    expect(once.headers['content-type']).toContain('application/x-ndjson');
    expect(
      once
        .text()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).text),
    ).toEqual(['one']);
    const followed = await new Promise<string>((resolve, reject) => {
      const req = https.get(
        {
          host: 'localhost',
          port: gw.httpsPort,
          path: '/system/logs?name=echo&follow=true',
          ca: gw.tls.cert,
          headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => {
            text += c;
            if (text.includes('two')) {
              req.destroy();
              resolve(text);
            }
          });
        },
      );
      req.on('error', reject);
      setTimeout(
        () =>
          fake.state.logs.push({
            name: 'echo',
            namespace: 'openfaas-fn',
            instance: 'i-1',
            timestamp: '2026-01-01T00:00:01.000Z',
            text: 'two',
          }),
        150,
      );
    });
    expect(
      followed
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).text),
    ).toEqual(['one', 'two']);
    const unknown = await api.send('GET', '/system/logs?name=nope', { auth });
    expect(unknown.status).toBe(404);
  });

  it('serves /metrics with the OpenFaaS names on HTTPS and on the loopback HTTP listener', async () => {
    for (const c of [api, client(`http://127.0.0.1:${gw.httpPort}`)]) {
      const r = await c.send('GET', '/metrics');
      expect(r.status).toBe(200);
      const text = r.text();
      for (const name of [
        'gateway_function_invocation_total{function_name="echo.openfaas-fn",code="201"}',
        'gateway_functions_seconds_bucket',
        'gateway_function_invocation_started{function_name="echo.openfaas-fn"}',
        'gateway_service_count{function_name="echo.openfaas-fn"} 1',
        'http_requests_total{code="200",method="GET",path="/healthz"}',
        'http_request_duration_seconds_bucket',
        'floe_gateway_invoke_overhead_seconds_bucket{le="0.001",start="warm"}',
        'floe_gateway_auth_failures_total',
      ])
        expect(text).toContain(name);
      expect(text).not.toContain('path="/function/echo');
    }
  });
});
