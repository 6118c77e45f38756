import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FloeError, type InvokeRequest, type InvokeResponse } from '@floe/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncQueue } from './async-queue.js';
import { AsyncWorker, type AsyncWorkerSettings } from './async-worker.js';
import { invokeRequest, testRedis } from './testing/fixtures.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

async function callbackServer(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`, received, server };
}

const ok = (req: InvokeRequest): InvokeResponse => ({
  status: 200,
  headers: { 'Content-Type': 'text/plain' },
  body: Buffer.from(`done ${Buffer.from(req.body)}`),
  start: 'warm',
  functionMs: 1,
  agentId: 'a',
  instanceId: 'i',
});

describe(AsyncWorker.name, () => {
  let env: Awaited<ReturnType<typeof testRedis>>;
  let cb: Awaited<ReturnType<typeof callbackServer>>;
  let queue: AsyncQueue;
  const workers: AsyncWorker[] = [];
  const settings: AsyncWorkerSettings = {
    consumer: 'w1',
    concurrency: 2,
    maxAttempts: 3,
    claimIdleMs: 500,
    backoffBaseMs: 20,
    backoffMaxMs: 100,
    callbackTimeoutMs: 2000,
  };

  function worker(
    invoke: (r: InvokeRequest) => Promise<InvokeResponse>,
    over: Partial<AsyncWorkerSettings> = {},
  ) {
    const w = new AsyncWorker(env.connect(), env.redis, env.keys, queue, invoke, { ...settings, ...over });
    workers.push(w);
    w.start();
    return w;
  }

  beforeEach(async () => {
    env = await testRedis();
    cb = await callbackServer();
    queue = new AsyncQueue(env.redis, env.keys);
    await queue.ensureGroup();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    cb?.server.close();
    await env?.cleanup();
  });

  it('invokes, posts the result to the callback with OpenFaaS headers, then acks', async () => {
    worker(async (r) => ok(r));
    const { callId } = await queue.enqueue({
      request: invokeRequest('echo', { callId: 'call-1' }),
      callbackUrl: cb.url,
    });
    expect(callId).toBe('call-1');
    await expect.poll(() => cb.received.length, { timeout: 5000 }).toBe(1);
    const [got] = cb.received;
    expect(got?.body).toBe('done hi');
    expect(got?.headers['x-function-status']).toBe('200');
    expect(got?.headers['x-call-id']).toBe('call-1');
    expect(Number(got?.headers['x-duration-seconds'])).toBeGreaterThanOrEqual(0);
    await expect.poll(() => env.redis.xlen(env.keys.asyncStream)).toBe(0);
    expect(await queue.backlog()).toEqual({ pending: 0, lag: 0, dead: 0 });
  });

  it('retries retryable failures with backoff and succeeds', async () => {
    let n = 0;
    worker(async (r) => {
      n++;
      if (n === 1) throw new FloeError('RESOURCE_EXHAUSTED', 'full');
      if (n === 2) return { ...ok(r), status: 503 };
      return ok(r);
    });
    await queue.enqueue({ request: invokeRequest('echo'), callbackUrl: cb.url });
    await expect.poll(() => cb.received.length, { timeout: 5000 }).toBe(1);
    expect(n).toBe(3);
    expect(cb.received[0]?.headers['x-function-status']).toBe('200');
  });

  it('dead-letters a call after the last attempt and still reports it to the callback', async () => {
    worker(async () => {
      throw new FloeError('UNAVAILABLE', 'no agents');
    });
    await queue.enqueue({ request: invokeRequest('echo', { callId: 'doomed' }), callbackUrl: cb.url });
    await expect.poll(() => cb.received.length, { timeout: 5000 }).toBe(1);
    expect(cb.received[0]?.headers['x-function-status']).toBe('503');
    await expect.poll(async () => (await queue.deadLetters({ limit: 10 })).length).toBe(1);
    const [dead] = await queue.deadLetters({ limit: 10 });
    expect(dead).toMatchObject({ callId: 'doomed', attempts: 3, error: { code: 'UNAVAILABLE' } });
    expect(await queue.deadLetters({ namespace: 'other', limit: 10 })).toEqual([]);
  });

  it('takes over a call a dead consumer left pending', async () => {
    await queue.enqueue({ request: invokeRequest('echo', { callId: 'orphan' }), callbackUrl: cb.url });
    // A worker that read the call and died before finishing it.
    await env.redis.xreadgroup(
      'GROUP',
      env.keys.asyncGroup,
      'ghost',
      'COUNT',
      1,
      'STREAMS',
      env.keys.asyncStream,
      '>',
    );
    worker(async (r) => ok(r), { claimIdleMs: 300 });
    await expect.poll(() => cb.received.length, { timeout: 5000 }).toBe(1);
    expect(cb.received[0]?.headers['x-call-id']).toBe('orphan');
    await expect.poll(async () => (await queue.backlog()).pending).toBe(0);
  });

  it('dead-letters a call whose attempts keep killing their workers, without another attempt', async () => {
    await queue.enqueue({ request: invokeRequest('echo', { callId: 'poison' }), callbackUrl: cb.url });
    const res = (await env.redis.xreadgroup(
      'GROUP',
      env.keys.asyncGroup,
      'ghost',
      'COUNT',
      1,
      'STREAMS',
      env.keys.asyncStream,
      '>',
    )) as [string, [string, string[]][]][];
    const id = res[0]?.[1][0]?.[0] as string;
    // Three workers already died running it.
    await env.redis.hset(env.keys.asyncAttempts, id, settings.maxAttempts);
    let invoked = 0;
    worker(
      async (r) => {
        invoked++;
        return ok(r);
      },
      { claimIdleMs: 300 },
    );
    await expect
      .poll(async () => (await queue.deadLetters({ limit: 10 })).map((d) => d.callId), { timeout: 5000 })
      .toEqual(['poison']);
    expect(invoked).toBe(0);
    expect(cb.received[0]?.headers['x-function-status']).toBe('503');
    expect(await env.redis.hexists(env.keys.asyncAttempts, id)).toBe(0);
  });

  it('keeps a long call of a live worker from being claimed by another', async () => {
    let calls = 0;
    const slow = async (r: InvokeRequest) => {
      calls++;
      await new Promise((res) => setTimeout(res, 1200));
      return ok(r);
    };
    worker(slow, { consumer: 'a', claimIdleMs: 400 });
    await queue.enqueue({ request: invokeRequest('echo'), callbackUrl: cb.url });
    await expect.poll(() => calls).toBe(1);
    worker(slow, { consumer: 'b', claimIdleMs: 400 });
    await expect.poll(() => cb.received.length, { timeout: 5000 }).toBe(1);
    expect(calls).toBe(1);
  });
});
