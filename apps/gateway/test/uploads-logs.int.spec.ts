import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { PassThrough } from 'node:stream';
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

describe('gateway image uploads and log streaming', () => {
  it('streams a 50 MB image upload to disk without buffering it', async () => {
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
    const hash = createHash('sha256');
    for (let i = 0; i < 50; i++) hash.update(chunk);
    const want = hash.digest('hex');
    const body = new PassThrough();
    const answer = h.api.send('POST', '/floe/images?ref=floe/demo:1', {
      auth: h.auth,
      body,
      headers: { 'content-type': 'application/x-tar', 'content-length': String(50 * chunk.length) },
    });
    // Send 10 MB, then hold the rest back: a buffering server would have nothing on disk yet.
    for (let i = 0; i < 10; i++) body.write(chunk);
    const uploads = path.join(h.stateDir, 'gateway/uploads');
    const partial = async () => {
      // Up to 20 s: a generous wait for the bytes to land, not a claim about speed.
      for (let i = 0; i < 800; i++) {
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
    expect(up.archive).toBe(path.join(h.stateDir, 'gateway/uploads', `${want}.tar`));
    expect(statSync(up.archive).size).toBe(50 * chunk.length);
    // A deploy with that ref gets the archive path as annotation com.floe.image-archive.
    await h.api.send('POST', '/system/functions', {
      auth: h.auth,
      body: JSON.stringify({ service: 'demo', image: 'floe/demo:1' }),
    });
    const sent = h.fake.state.seen(SchedulerPatterns.deploy).at(-1) as {
      annotations: Record<string, string>;
    };
    expect(sent.annotations['com.floe.image-archive']).toBe(up.archive);
  });

  it('answers 413 at once for an image announced larger than FLOE_MAX_IMAGE_BYTES, and 400 for a bad ref', async () => {
    const body = new PassThrough();
    const big = client(`https://localhost:${h.gw.httpsPort}`, h.gw.tls.cert);
    const r = await big.send('POST', '/floe/images?ref=big:1', {
      auth: h.auth,
      body,
      headers: { 'content-type': 'application/x-tar', 'content-length': String(61 * 1024 * 1024) },
    });
    big.close();
    body.destroy();
    expect(r.status).toBe(413);
    expect(r.json().error.message).toContain('FLOE_MAX_IMAGE_BYTES');
    const bad = await h.api.send('POST', '/floe/images?ref=Not%20A%20Ref', { auth: h.auth, body: 'x' });
    expect(bad.json().error.field).toBe('ref');
  });

  it('streams logs as NDJSON and keeps following', async () => {
    h.fake.state.logs.push({
      name: 'echo',
      namespace: 'openfaas-fn',
      instance: 'i-1',
      timestamp: '2026-01-01T00:00:00.000Z',
      text: 'one',
    });
    const once = await h.api.send('GET', '/system/logs?name=echo&tail=10', { auth: h.auth });
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
          port: h.gw.httpsPort,
          path: '/system/logs?name=echo&follow=true',
          ca: h.gw.tls.cert,
          headers: { authorization: `Basic ${Buffer.from(h.auth).toString('base64')}` },
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
          h.fake.state.logs.push({
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
    const unknown = await h.api.send('GET', '/system/logs?name=nope', { auth: h.auth });
    expect(unknown.status).toBe(404);
  });

  it('ends follow streams when the gateway shuts down, instead of hanging the close', async () => {
    const ended = new Promise<string>((resolve, reject) => {
      https
        .get(
          {
            host: 'localhost',
            port: h.gw.httpsPort,
            path: '/system/logs?name=echo&follow=true',
            ca: h.gw.tls.cert,
            headers: { authorization: `Basic ${Buffer.from(h.auth).toString('base64')}` },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve('ended'));
            res.on('error', reject);
          },
        )
        .on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 200));
    // A close that waited on the open stream would hang here until the test's timeout.
    await h.stop();
    expect(await ended).toBe('ended');
  });
});
