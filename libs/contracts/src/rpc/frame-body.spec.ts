import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { liftBody, restoreBody } from './frame-body.js';
import { FrameRpcClient } from './frame-rpc-client.js';
import { FrameRpcServer } from './frame-rpc-server.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('frame bodies', () => {
  it('lifts a body out of the header and puts it back where it was', () => {
    const body = Buffer.from([0, 255, 1]);
    const top = liftBody({ status: 200, body });
    expect(top).toMatchObject({ b: 'body', body });
    expect(JSON.stringify(top.d)).toBe('{"status":200}');
    expect(restoreBody(JSON.parse(JSON.stringify(top.d)), top.body, top.b)).toEqual({ status: 200, body });
    const nested = liftBody({ request: { callId: 'c', body }, ref: 'r' });
    expect(nested.b).toBe('request.body');
    expect(JSON.stringify(nested.d)).toBe('{"request":{"callId":"c"},"ref":"r"}');
    expect(liftBody({ body: 'text' }).b).toBeUndefined();
  });

  it('carries 4 MiB of random bytes each way byte-identical, never in the JSON header', async () => {
    const seen: { isBuffer: boolean; length: number }[] = [];
    const server = new FrameRpcServer(
      {
        echo: (d: { request: { body: Buffer } }) => {
          seen.push({ isBuffer: Buffer.isBuffer(d.request.body), length: d.request.body.length });
          return { status: 200, body: Buffer.from(d.request.body).reverse() };
        },
      },
      'test',
    );
    const port = await server.listen('127.0.0.1', 0);
    const client = new FrameRpcClient({ host: '127.0.0.1', port });
    cleanups.push(
      () => server.close(),
      () => client.close(),
    );
    const body = randomBytes(4 * 1024 * 1024);
    const res = await client.call<{ status: number; body: Buffer }>('echo', { request: { body } }, 10_000);
    expect(seen).toEqual([{ isBuffer: true, length: body.length }]);
    expect(Buffer.isBuffer(res.body)).toBe(true);
    expect(res.body.equals(Buffer.from(body).reverse())).toBe(true);
  });
});
