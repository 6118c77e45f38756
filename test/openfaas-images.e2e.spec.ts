import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deploy, request, uniqueName, waitFor } from './support/client.js';

// The real OpenFaaS images, built from the OpenFaaS watchdogs (see their README there).
const FIXTURES = path.resolve(import.meta.dirname, '../../shared/fixtures/openfaas-images');
const CLASSIC = 'functions/alpine:latest';
const REDIRECTOR = 'theaxer/redirector:latest';
const present = existsSync(path.join(FIXTURES, 'functions-alpine.docker.tar'));
if (!present) console.warn(`openfaas-images.e2e: skipped, no OpenFaaS fixture images in ${FIXTURES}`);

async function importImage(file: string, ref: string) {
  const up = await request('POST', `/floe/images?ref=${encodeURIComponent(ref)}`, {
    body: readFileSync(path.join(FIXTURES, file)),
    headers: { 'content-type': 'application/x-tar' },
    auth: true,
  });
  expect(up.status, up.text).toBeLessThan(300);
}

async function deployOk(fn: Record<string, unknown>) {
  const d = await deploy(fn);
  expect(d.status, d.text).toBeLessThan(300);
}

describe.skipIf(!present)('OpenFaaS images run by their own watchdog', () => {
  beforeAll(async () => {
    await importImage('functions-alpine.docker.tar', CLASSIC);
    await importImage('theaxer-redirector.oci.tar', REDIRECTOR);
  }, 120_000);

  it('classic watchdog with envProcess env: every verb reaches the function as Http_Method, with the call headers', async () => {
    const name = uniqueName('of-env');
    await deployOk({ service: name, image: CLASSIC, envProcess: 'env' });
    for (const verb of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const r = await request(verb, `/function/${name}`, verb === 'GET' ? {} : { body: 'x' });
      expect(r.status, r.text).toBe(200);
      expect(r.text).toContain(`Http_Method=${verb}\n`);
      const callId = r.headers['x-call-id'] as string;
      expect(callId).toBeTruthy();
      expect(r.headers['x-start-time']).toMatch(/^\d+$/);
      expect(r.text).toContain(`Http_X_Call_Id=${callId}\n`);
      expect(r.text).toMatch(/^Http_X_Start_Time=\d+$/m);
    }
  });

  it('classic watchdog: path, query and headers arrive as Http_*, envVars and fprocess in the environment', async () => {
    const name = uniqueName('of-envq');
    await deployOk({
      service: name,
      image: CLASSIC,
      envProcess: 'env',
      envVars: { GREETING: 'from envVars', PATH: '/usr/bin:/bin' },
    });
    const r = await request('GET', `/function/${name}?testing=1`);
    expect(r.status, r.text).toBe(200);
    expect(r.text).toContain('Http_Query=testing=1\n');
    const sub = await request('GET', `/function/${name}/sub/path?a=b`, { headers: { 'X-Custom': 'v1' } });
    expect(sub.text).toContain('Http_Path=/sub/path\n');
    expect(sub.text).toContain('Http_Query=a=b\n');
    expect(sub.text).toContain('Http_X_Custom=v1\n');
    expect(r.text).toContain('GREETING=from envVars\n');
    expect(r.text).toContain('fprocess=env\n');
    // envVars win over the image's own Env.
    expect(r.text).toContain('PATH=/usr/bin:/bin\n');
  });

  it("classic watchdog runs as the image's User", async () => {
    const name = uniqueName('of-id');
    await deployOk({ service: name, image: CLASSIC, envProcess: 'id -u' });
    const r = await request('POST', `/function/${name}`);
    expect(r.status, r.text).toBe(200);
    expect(r.text.trim()).toBe('1000');
  });

  it("classic watchdog with sha512sum hashes the body as the host's sha512 does", async () => {
    const name = uniqueName('of-sha');
    await deployOk({ service: name, image: CLASSIC, envProcess: 'sha512sum' });
    const body = randomBytes(300 * 1024);
    const r = await request('POST', `/function/${name}`, { body });
    expect(r.status, r.text).toBe(200);
    expect(r.text.split(/\s/)[0]).toBe(createHash('sha512').update(body).digest('hex'));
  });

  it('a 4 MiB binary body round-trips byte-identical through cat in the classic image', async () => {
    const name = uniqueName('of-cat');
    await deployOk({ service: name, image: CLASSIC, envProcess: 'cat' });
    const body = randomBytes(4 * 1024 * 1024);
    const r = await request('POST', `/function/${name}`, {
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(r.status, r.text.slice(0, 200)).toBe(200);
    expect(r.body.length).toBe(body.length);
    expect(r.body.equals(body)).toBe(true);
  });

  it('the classic watchdog log lines appear in /system/logs under the function name', async () => {
    const name = uniqueName('of-logs');
    await deployOk({ service: name, image: CLASSIC, envProcess: 'cat' });
    const r = await request('POST', `/function/${name}`, { body: 'hello' });
    expect(r.status, r.text).toBe(200);
    const text = await waitFor('the watchdog log lines', async () => {
      const logs = await request('GET', `/system/logs?name=${name}&tail=50`, { auth: true });
      return /Forking fprocess/.test(logs.text) && /Wrote \d+ Bytes/.test(logs.text) ? logs.text : undefined;
    });
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.some((l) => l.text.includes('Forking fprocess.'))).toBe(true);
    expect(lines.every((l) => l.name === name)).toBe(true);
  });

  it('a call after the pause grace is served warm by the instance kept from the first', async () => {
    const name = uniqueName('of-warm');
    await deployOk({ service: name, image: CLASSIC, envProcess: 'cat' });
    const first = await request('POST', `/function/${name}`, { body: 'one' });
    expect(first.status, first.text).toBe(200);
    // Past the 50 ms pause grace the e2e platform runs with, so the idle instance was frozen.
    await new Promise((r) => setTimeout(r, 500));
    const second = await request('POST', `/function/${name}`, { body: 'two' });
    expect(second.status, second.text).toBe(200);
    expect(second.text).toBe('two');
    expect(second.headers['x-floe-start']).toBe('warm');
  });

  it('of-watchdog HTTP mode (redirector): 302 with its Location passed back unfollowed', async () => {
    const name = uniqueName('of-redir');
    await deployOk({
      service: name,
      image: REDIRECTOR,
      envVars: { destination: 'https://floe.example/landing' },
    });
    const r = await request('GET', `/function/${name}/some/path?x=1`);
    if (r.status !== 302)
      console.log((await request('GET', `/system/logs?name=${name}&tail=50`, { auth: true })).text);
    expect(r.status, r.text).toBe(302);
    expect(r.headers.location).toBe('https://floe.example/landing');
  });
});

describe('exec functions stream large bodies', () => {
  it('a 4 MiB binary body round-trips byte-identical through cat (runtime exec)', async () => {
    const name = uniqueName('exec-cat');
    await deployOk({ service: name, runtime: 'exec', envProcess: 'cat' });
    const body = randomBytes(4 * 1024 * 1024);
    const r = await request('POST', `/function/${name}`, {
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(r.status, r.text.slice(0, 200)).toBe(200);
    expect(r.body.length).toBe(body.length);
    expect(r.body.equals(body)).toBe(true);
  });
});
