import { SchedulerPatterns } from '@floe/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootGateway, type Harness } from './harness.js';
import { client } from './https-client.js';

let h: Harness;
beforeAll(async () => {
  h = await bootGateway();
  const d = JSON.stringify({ service: 'echo', image: 'floe/echo:1' });
  await h.api.send('POST', '/system/functions', { auth: h.auth, body: d });
});
afterAll(() => h?.stop());

describe('gateway invocation (/function, /async-function) and metrics', () => {
  it('invokes: status, headers and a binary body pass through, stamped by the gateway', async () => {
    const body = Buffer.from([0, 1, 2, 255, 254, 0, 10, 13]);
    const r = await h.api.send('POST', '/function/echo/sub/path?q=1', {
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
    expect(h.fake.state.lastInvoke).toMatchObject({
      function: 'echo',
      namespace: 'openfaas-fn',
      method: 'POST',
      query: 'q=1',
    });
    expect(h.fake.state.lastInvoke!.headers['x-call-id']).toBe('my-call');
  });

  it('passes a JSON body through unparsed and generates a call id', async () => {
    const raw = '{"a": 1,   "b":[2]}';
    const r = await h.api.send('PUT', '/function/echo.openfaas-fn', {
      body: raw,
      headers: { 'content-type': 'application/json' },
    });
    expect(r.status).toBe(200);
    expect(r.text()).toBe(raw);
    expect(r.headers['x-call-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 404 for an unknown function', async () => {
    const r = await h.api.send('GET', '/function/nope');
    expect(r.status).toBe(404);
    expect(r.json().error).toMatchObject({ code: 'NOT_FOUND', fault: 'user' });
  });

  it('answers 413 for a body over FLOE_MAX_BODY_BYTES', async () => {
    const r = await h.api.send('POST', '/function/echo', { body: Buffer.alloc(1024 * 1024 + 1) });
    expect(r.status).toBe(413);
    expect(r.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('maps overload to 429 + Retry-After, timeout to 504, a crash to 502 saying whose fault', async () => {
    const busy = await h.api.send('GET', '/function/busy');
    expect(busy.status).toBe(429);
    expect(busy.headers['retry-after']).toBe('2');
    const slow = await h.api.send('GET', '/function/slow');
    expect(slow.status).toBe(504);
    const crash = await h.api.send('GET', '/function/crash');
    expect(crash.status).toBe(502);
    expect(crash.json().error).toEqual({
      code: 'FUNCTION_FAILED',
      message: 'function crashed: OOMKilled (limit 128Mi)',
      fault: 'user',
    });
  });

  it('answers 504 when the scheduler never answers within FLOE_INVOKE_TIMEOUT_MS', async () => {
    const r = await h.api.send('GET', '/function/hang');
    expect(r.status).toBe(504);
    expect(r.json().error).toMatchObject({ code: 'DEADLINE_EXCEEDED', fault: 'platform' });
    expect(r.ms).toBeGreaterThanOrEqual(900);
  });

  it("maps the scheduler's api-key verdicts to 401 and 403", async () => {
    expect((await h.api.send('GET', '/function/keyed')).status).toBe(401);
    expect((await h.api.send('GET', '/function/keyed', { headers: { 'x-api-key': 'nope' } })).status).toBe(
      403,
    );
    expect((await h.api.send('GET', '/function/keyed', { headers: { 'x-api-key': 'k1' } })).status).toBe(200);
  });

  it('answers HEAD on a function without a body', async () => {
    const r = await h.api.send('HEAD', '/function/echo');
    expect(r.status).toBe(200);
    expect(r.headers['x-call-id']).toBeTruthy();
    expect(h.fake.state.lastInvoke!.method).toBe('HEAD');
  });

  it('queues async calls: 202 with X-Call-Id, callback URL passed on', async () => {
    const r = await h.api.send('POST', '/async-function/echo/x', {
      body: 'later',
      headers: { 'x-callback-url': 'http://127.0.0.1:9/cb' },
    });
    expect(r.status).toBe(202);
    expect(r.headers['x-call-id']).toBeTruthy();
    const msg = h.fake.state.seen(SchedulerPatterns.enqueue).at(-1) as {
      request: { body: Buffer; path: string };
      callbackUrl: string;
    };
    expect(msg.callbackUrl).toBe('http://127.0.0.1:9/cb');
    // Bytes over the frame channel, not base64.
    expect(Buffer.isBuffer(msg.request.body) && msg.request.body.toString()).toBe('later');
    const bad = await h.api.send('POST', '/async-function/echo', {
      headers: { 'x-callback-url': 'ftp://x' },
    });
    expect(bad.status).toBe(400);
    expect(bad.json().error.field).toBe('X-Callback-Url');
  });

  it('serves /metrics with the OpenFaaS names on HTTPS and on the loopback HTTP listener', async () => {
    for (const c of [h.api, client(`http://127.0.0.1:${h.gw.httpPort}`)]) {
      const r = await c.send('GET', '/metrics');
      expect(r.status).toBe(200);
      const text = r.text();
      for (const name of [
        'gateway_function_invocation_total{function_name="echo.openfaas-fn",code="201"}',
        'gateway_functions_seconds_bucket',
        'gateway_function_invocation_started{function_name="echo.openfaas-fn"}',
        'gateway_service_count{function_name="echo.openfaas-fn"} 1',
        'http_requests_total{code="404",method="GET",path="/function/*"}',
        'http_request_duration_seconds_bucket',
        'floe_gateway_invoke_overhead_seconds_bucket{le="0.001",start="warm"}',
        'floe_gateway_auth_failures_total',
      ])
        expect(text).toContain(name);
      expect(text).not.toContain('path="/function/echo');
    }
  });
});
