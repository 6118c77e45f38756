import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { codeArchive, deploy, request, routed, uniqueName, waitFor } from './support/client.js';

const NODE_ECHO = {
  'index.js': `module.exports = async (event, context) => ({
    statusCode: event.headers['x-want-status'] ? Number(event.headers['x-want-status']) : 200,
    headers: { 'content-type': 'application/octet-stream', 'x-fn': context.functionName },
    body: event.rawBody,
  });`,
};

async function deployNode(name: string, files: Record<string, string>, extra: Record<string, unknown> = {}) {
  const res = await deploy({
    service: name,
    runtime: 'node',
    handler: 'index.js',
    code: codeArchive(files),
    ...extra,
  });
  expect(res.status, res.text).toBeLessThan(300);
}

describe('deploy and invoke over HTTPS', () => {
  it('runs a node function: cold or prewarm first, then warm; binary bodies and status pass through', async () => {
    const name = uniqueName('echo');
    // Min scale 0: nothing is started on deploy, so the first call starts one.
    await deployNode(name, NODE_ECHO, { labels: { 'com.openfaas.scale.min': '0' } });
    const body = Buffer.from([0, 1, 2, 3, 250, 251, 252, 10, 13]);
    const first = await request('POST', `/function/${name}`, {
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(first.status, first.text).toBe(200);
    expect(first.body).toEqual(body);
    expect(['cold', 'prewarm']).toContain(first.headers['x-floe-start']);
    expect(first.headers['x-call-id']).toBeTruthy();
    expect(Number(first.headers['x-duration-seconds'])).toBeGreaterThan(0);
    const second = await request('POST', `/function/${name}/sub/path?q=1`, {
      body: 'again',
      headers: { 'x-want-status': '418' },
    });
    expect(second.status).toBe(418);
    expect(second.headers['x-floe-start']).toBe('warm');
    expect(second.text).toBe('again');
  });

  it("starts a new function's first call at the platform's one agent itself, not through the scheduler", async () => {
    const name = uniqueName('start');
    await deployNode(name, NODE_ECHO, { labels: { 'com.openfaas.scale.min': '0' } });
    const [atAgent, viaScheduler] = [await routed('start-at-agent'), await routed('no-warm-instance')];
    const first = await request('POST', `/function/${name}`, { body: 'one' });
    expect(first.status, first.text).toBe(200);
    expect(first.text).toBe('one');
    expect(['cold', 'prewarm']).toContain(first.headers['x-floe-start']);
    expect(await routed('start-at-agent')).toBe(atAgent + 1);
    expect(await routed('no-warm-instance')).toBe(viaScheduler);
  });

  it('runs a python function', async () => {
    const name = uniqueName('py');
    const res = await deploy({
      service: name,
      runtime: 'python',
      handler: 'handler.handle',
      code: codeArchive({
        'handler.py':
          'def handle(event, context):\n    return {"statusCode": 200, "body": "py:" + event["body"]}\n',
      }),
    });
    expect(res.status, res.text).toBeLessThan(300);
    const r = await request('POST', `/function/${name}`, { body: 'hello' });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('py:hello');
  });

  it('runs an exec function in the classic watchdog style', async () => {
    const name = uniqueName('exec');
    const res = await deploy({
      service: name,
      runtime: 'exec',
      envProcess: 'sh -c "echo $Http_Method; tr a-z A-Z"',
    });
    expect(res.status, res.text).toBeLessThan(300);
    const r = await request('PUT', `/function/${name}`, { body: 'shout' });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('PUT\nSHOUT');
  });

  it('gives a container a clean environment and the deployment env, with secrets as files', async () => {
    const secret = uniqueName('token');
    const s = await request('POST', '/system/secrets', {
      body: { name: secret, value: 's3cr3t' },
      auth: true,
    });
    expect(s.status, s.text).toBeLessThan(300);
    const name = uniqueName('env');
    await deployNode(
      name,
      {
        'index.js': `const fs = require('fs'); module.exports = async () => ({ env: process.env, secret: fs.readFileSync('/var/openfaas/secrets/${secret}', 'utf8') });`,
      },
      { envVars: { GREETING: 'hi' }, secrets: [secret] },
    );
    const r = await request('GET', `/function/${name}`);
    expect(r.status, r.text).toBe(200);
    const { env, secret: value } = r.json();
    expect(value).toBe('s3cr3t');
    expect(env.GREETING).toBe('hi');
    expect(env.NODE_EXTRA_CA_CERTS).toBeUndefined();
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.FLOE_STATE_DIR).toBeUndefined();
  });

  it('fails an out-of-memory call with OOMKilled and the limit, then serves again', async () => {
    const name = uniqueName('oom');
    await deployNode(
      name,
      {
        'index.js': `module.exports = async (e) => { if (e.body === 'boom') { const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1)); } return 'ok'; };`,
      },
      { limits: { memory: '64Mi' } },
    );
    const r = await request('POST', `/function/${name}`, { body: 'boom' });
    expect(r.status).toBe(502);
    expect(r.text).toMatch(/OOMKilled/);
    expect(r.text).toMatch(/64Mi/);
    const ok = await request('POST', `/function/${name}`, { body: 'fine' });
    expect(ok.status, ok.text).toBe(200);
  });

  it('answers 504 when a function passes its timeout', async () => {
    const name = uniqueName('slow');
    await deployNode(
      name,
      { 'index.js': 'module.exports = () => new Promise(() => {});' },
      { annotations: { 'com.floe.timeout': '1' } },
    );
    const r = await request('GET', `/function/${name}`);
    expect(r.status).toBe(504);
    expect(r.json().error.message).toMatch(/timed out/);
  });

  it('captures function logs, readable through /system/logs', async () => {
    const name = uniqueName('logs');
    await deployNode(name, {
      'index.js': `module.exports = async (e) => { console.log('marker-' + e.body); return 'ok'; };`,
    });
    await request('POST', `/function/${name}`, { body: 'xyz' });
    const line = await waitFor('the log line', async () => {
      const r = await request('GET', `/system/logs?name=${name}&tail=20`, { auth: true });
      return r.text.includes('marker-xyz') ? r.text : undefined;
    });
    expect(JSON.parse(line.trim().split('\n').at(-1) as string).text).toBe('marker-xyz');
  });

  it('accepts an async call with 202 and posts the result to the callback URL', async () => {
    const name = uniqueName('async');
    await deployNode(name, NODE_ECHO);
    const got: { headers: http.IncomingHttpHeaders; body: string }[] = [];
    const srv = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (srv.address() as AddressInfo).port;
      const r = await request('POST', `/async-function/${name}`, {
        body: 'later',
        headers: { 'x-callback-url': `http://127.0.0.1:${port}/cb` },
      });
      expect(r.status).toBe(202);
      const callId = r.headers['x-call-id'];
      expect(callId).toBeTruthy();
      const cb = await waitFor('the callback', async () => got[0]);
      expect(cb.body).toBe('later');
      expect(cb.headers['x-function-status']).toBe('200');
      expect(cb.headers['x-call-id']).toBe(callId);
    } finally {
      srv.close();
    }
  });
});

describe('errors a user sees', () => {
  it('404 for an unknown function', async () => {
    const r = await request('GET', `/function/${uniqueName('nope')}`);
    expect(r.status).toBe(404);
    expect(r.json().error).toBeTruthy();
  });

  it('400 naming the field for an invalid deployment', async () => {
    const r = await deploy({ service: 'Bad_Name!', image: 'x' });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.json())).toMatch(/service/);
  });

  it('401 without credentials on /system', async () => {
    const r = await request('GET', '/system/functions');
    expect(r.status).toBe(401);
  });

  it('lists deployed functions with the fields as sent, plus the faas_function label', async () => {
    const name = uniqueName('listed');
    await deployNode(name, NODE_ECHO, { labels: { team: 'a' } });
    const r = await request('GET', '/system/functions', { auth: true });
    const fn = r.json().find((f: { name: string }) => f.name === name);
    expect(fn.labels).toEqual({ team: 'a', faas_function: name });
    expect(fn).not.toHaveProperty('code');
    expect(fn).not.toHaveProperty('annotations');
  });
});
