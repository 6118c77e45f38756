import { SchedulerPatterns } from '@floe/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootGateway, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await bootGateway();
});
afterAll(() => h?.stop());

describe('gateway management API (OpenFaaS /system, Floe /floe)', () => {
  it('deploys 202 and lists exactly what was sent (absent stays absent)', async () => {
    const d = { service: 'echo', image: 'floe/echo:1', labels: { team: 'a' } };
    const r = await h.api.send('POST', '/system/functions', {
      auth: h.auth,
      body: JSON.stringify(d),
      headers: { 'content-type': 'application/json' },
    });
    expect(r.status).toBe(202);
    expect(h.fake.state.seen(SchedulerPatterns.deploy).at(-1)).toEqual(d);
    const list = await h.api.send('GET', '/system/functions', { auth: h.auth });
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
      const r = await h.api.send('POST', '/system/functions', {
        auth: h.auth,
        body,
        headers: type ? { 'content-type': type } : {},
      });
      expect(r.status).toBe(202);
      expect(h.fake.state.seen(SchedulerPatterns.deploy).at(-1)).toEqual({ service: 'echo2', image: 'x' });
    },
  );

  it('answers 400 for a malformed JSON body', async () => {
    const r = await h.api.send('POST', '/system/functions', {
      auth: h.auth,
      body: '{"service":',
      headers: { 'content-type': 'application/json' },
    });
    expect(r.status).toBe(400);
    expect(r.json().error.code).toBe('INVALID_ARGUMENT');
  });

  it('answers 400 naming the field of an invalid deployment', async () => {
    const r = await h.api.send('POST', '/system/functions', {
      auth: h.auth,
      body: JSON.stringify({ service: 'ok', image: 'x', limits: { memory: 'lots' } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'limits.memory', fault: 'user' });
  });

  it('deletes 202, and 404 with a JSON body for an unknown function', async () => {
    await h.api.send('POST', '/system/functions', {
      auth: h.auth,
      body: JSON.stringify({ service: 'gone', image: 'x' }),
    });
    const body = JSON.stringify({ functionName: 'gone' });
    expect(
      (
        await h.api.send('DELETE', '/system/functions', {
          auth: h.auth,
          body,
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(202);
    const again = await h.api.send('DELETE', '/system/functions', {
      auth: h.auth,
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(again.status).toBe(404);
    expect(again.json().error.code).toBe('NOT_FOUND');
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
    const r = await h.api.send('POST', '/floe/functions', {
      auth: h.auth,
      body,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(r.status).toBe(202);
    expect(h.fake.state.seen(SchedulerPatterns.deploy).at(-1)).toEqual({
      service: 'mp',
      runtime: 'node',
      handler: 'index.js',
      code: code.toString('base64'),
    });
  });

  it('gets one function, scales 202, lists versions, rolls back and lists dead letters', async () => {
    const one = await h.api.send('GET', '/system/function/echo?namespace=openfaas-fn', { auth: h.auth });
    expect(one.json()).toMatchObject({ name: 'echo', image: 'floe/echo:1' });
    expect((await h.api.send('GET', '/system/function/none', { auth: h.auth })).status).toBe(404);
    const json = { 'content-type': 'application/json' };
    const scale = await h.api.send('POST', '/system/scale-function/echo', {
      auth: h.auth,
      headers: json,
      body: JSON.stringify({ serviceName: 'echo', replicas: 3 }),
    });
    expect(scale.status).toBe(202);
    expect(h.fake.state.seen(SchedulerPatterns.scale).at(-1)).toEqual({
      name: 'echo',
      namespace: 'openfaas-fn',
      replicas: 3,
    });
    const bad = await h.api.send('POST', '/system/scale-function/echo', {
      auth: h.auth,
      headers: json,
      body: '{"replicas":-1}',
    });
    expect(bad.json().error.field).toBe('replicas');
    const versions = await h.api.send('GET', '/floe/functions/echo/versions', { auth: h.auth });
    expect(versions.json()).toEqual([{ version: 1, createdAt: '2026-01-01T00:00:00Z', active: true }]);
    const rb = await h.api.send('POST', '/floe/functions/echo/rollback', {
      auth: h.auth,
      headers: json,
      body: '{"version":1}',
    });
    expect(rb.status).toBe(202);
    expect(h.fake.state.seen(SchedulerPatterns.rollback).at(-1)).toEqual({
      name: 'echo',
      namespace: 'openfaas-fn',
      version: 1,
    });
    expect((await h.api.send('GET', '/floe/async/dead-letters?limit=5', { auth: h.auth })).json()).toEqual(
      [],
    );
    expect(h.fake.state.seen(SchedulerPatterns.deadLetters).at(-1)).toEqual({ limit: 5 });
    expect((await h.api.send('GET', '/system/namespaces', { auth: h.auth })).json()).toEqual(['openfaas-fn']);
  });

  it('creates 201, lists names only, updates 202, deletes 202 secrets', async () => {
    const json = { 'content-type': 'application/json' };
    const put = (method: string, body: object) =>
      h.api.send(method, '/system/secrets', { auth: h.auth, headers: json, body: JSON.stringify(body) });
    expect((await put('POST', { name: 'db', value: 'pw' })).status).toBe(201);
    expect((await put('POST', { name: 'db', value: 'pw' })).status).toBe(409);
    expect((await put('PUT', { name: 'db', rawValue: Buffer.from([0, 1]).toString('base64') })).status).toBe(
      202,
    );
    expect((await put('PUT', { name: 'db' })).json().error.field).toBe('value');
    expect((await h.api.send('GET', '/system/secrets', { auth: h.auth })).json()).toEqual([
      { name: 'db', namespace: 'openfaas-fn' },
    ]);
    expect((await put('DELETE', { name: 'db' })).status).toBe(202);
    expect((await put('DELETE', { name: 'db' })).status).toBe(404);
  });
});

describe('gateway and Go clients (null means absent)', () => {
  const json = { 'content-type': 'application/json' };

  it('deploys a body as a Go client encodes it and sends the scheduler only the fields that were set', async () => {
    const r = await h.api.send('POST', '/system/functions', {
      auth: h.auth,
      headers: json,
      body: JSON.stringify({
        service: 'gofn',
        image: 'floe/echo:1',
        namespace: '',
        envProcess: 'env',
        envVars: null,
        constraints: null,
        secrets: null,
        labels: null,
        annotations: null,
        limits: null,
        requests: null,
      }),
    });
    expect(r.status, r.text).toBe(202);
    expect(h.fake.state.seen(SchedulerPatterns.deploy).at(-1)).toEqual({
      service: 'gofn',
      image: 'floe/echo:1',
      envProcess: 'env',
    });
  });

  it('takes null optional members in secrets, scale and delete bodies', async () => {
    const send = (method: string, url: string, body: object) =>
      h.api.send(method, url, { auth: h.auth, headers: json, body: JSON.stringify(body) });
    expect(
      (await send('POST', '/system/secrets', { name: 'gs', namespace: null, value: 'v', rawValue: null }))
        .status,
    ).toBe(201);
    expect((await send('PUT', '/system/secrets', { name: 'gs', value: null, rawValue: 'AAE=' })).status).toBe(
      202,
    );
    expect((await send('DELETE', '/system/secrets', { name: 'gs', namespace: null })).status).toBe(202);
    const scale = await send('POST', '/system/scale-function/echo', {
      serviceName: 'echo',
      namespace: null,
      replicas: 2,
    });
    expect(scale.status, scale.text).toBe(202);
    expect(h.fake.state.seen(SchedulerPatterns.scale).at(-1)).toEqual({
      name: 'echo',
      namespace: 'openfaas-fn',
      replicas: 2,
    });
    await send('POST', '/system/functions', { service: 'gone2', image: 'x' });
    expect(
      (await send('DELETE', '/system/functions', { functionName: 'gone2', namespace: null })).status,
    ).toBe(202);
  });
});

describe('gateway and images it cannot provide', () => {
  let strict: Harness;
  beforeAll(async () => {
    strict = await bootGateway({}, { anyImage: false });
  });
  afterAll(() => strict?.stop());

  it('answers 400 naming image and saying how to upload it, and sends the scheduler nothing', async () => {
    const before = strict.fake.state.seen(SchedulerPatterns.deploy).length;
    for (const method of ['POST', 'PUT']) {
      const r = await strict.api.send(method, '/system/functions', {
        auth: strict.auth,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ service: 'nope', image: 'busybox' }),
      });
      expect(r.status).toBe(400);
      expect(r.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'image', fault: 'user' });
      expect(r.json().error.message).toContain('POST /floe/images?ref=busybox');
    }
    expect(strict.fake.state.seen(SchedulerPatterns.deploy).length).toBe(before);
  });

  it('deploys an uploaded image by another spelling of its name, and a base image', async () => {
    const up = await strict.api.send('POST', '/floe/images?ref=functions/alpine:latest', {
      auth: strict.auth,
      headers: { 'content-type': 'application/x-tar' },
      body: Buffer.alloc(1024),
    });
    expect(up.status, up.text).toBe(201);
    for (const image of ['functions/alpine', 'docker.io/functions/alpine:latest', 'floe/busybox:latest']) {
      const r = await strict.api.send('POST', '/system/functions', {
        auth: strict.auth,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ service: `ok-${image.length}`, image }),
      });
      expect(r.status, `${image}: ${r.text}`).toBe(202);
      expect(strict.fake.state.seen(SchedulerPatterns.deploy).at(-1)).toMatchObject({ image });
    }
  });
});
