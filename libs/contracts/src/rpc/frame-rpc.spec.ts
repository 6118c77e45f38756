import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { FloeError, NotFoundError } from '../errors.js';
import { encodeFrame, FrameDecoder } from './frame-codec.js';
import { FrameRpcClient, RpcConnectionError, RpcTimeoutError } from './frame-rpc-client.js';
import { FrameRpcServer } from './frame-rpc-server.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function pair(handlers: ConstructorParameters<typeof FrameRpcServer>[0]) {
  const server = new FrameRpcServer(handlers, 'test');
  const port = await server.listen('127.0.0.1', 0);
  const client = new FrameRpcClient({ host: '127.0.0.1', port });
  cleanups.push(
    () => server.close(),
    () => client.close(),
  );
  return { server, client, port };
}

describe(encodeFrame.name, () => {
  it('writes kv headers as NUL-separated pairs, env and headers prefixed, a list as its key repeated', () => {
    const frame = encodeFrame({ t: 'load', env: { A: '1' }, argv: ['sh', '-c', 'a b'] }, undefined, 'kv');
    const head = frame.subarray(8, 8 + frame.readUInt32BE(0)).toString();
    expect(head.split('\0')).toEqual([
      't',
      'load',
      'e:A',
      '1',
      'argv',
      'sh',
      'argv',
      '-c',
      'argv',
      'a b',
      '',
    ]);
  });
});

describe(FrameDecoder.name, () => {
  it('reassembles messages split across chunks and several in one chunk', () => {
    const bytes = Buffer.concat([encodeFrame({ a: 1 }), encodeFrame({ b: 'é'.repeat(100) })]);
    const got: unknown[] = [];
    const d = new FrameDecoder('json');
    for (let i = 0; i < bytes.length; i += 7) d.push(bytes.subarray(i, i + 7), (f) => got.push(f.header));
    expect(got).toEqual([{ a: 1 }, { b: 'é'.repeat(100) }]);
  });

  it('copies bodies and partial frames out of a transient chunk (an onread buffer reused per read)', () => {
    const bytes = Buffer.concat([
      encodeFrame({ a: 1 }, Buffer.from('first body')),
      encodeFrame({ b: 2 }, Buffer.from('second')),
    ]);
    const reused = Buffer.alloc(64);
    const got: { header: unknown; body: Buffer }[] = [];
    const d = new FrameDecoder('json');
    for (let i = 0; i < bytes.length; i += 13) {
      const n = bytes.copy(reused, 0, i, i + 13);
      d.push(reused.subarray(0, n), (f) => got.push(f), true);
      reused.fill(0xff); // the socket's next read overwrites it
    }
    expect(got.map((f) => [f.header, f.body.toString()])).toEqual([
      [{ a: 1 }, 'first body'],
      [{ b: 2 }, 'second'],
    ]);
  });

  it('assembles a frame spread over many reads, between small ones, in any chunking', () => {
    const big = randomBytes(1 << 20); // random: a byte put at the wrong offset shows
    const bytes = Buffer.concat([
      encodeFrame({ n: 1 }),
      encodeFrame({ n: 2 }, big),
      encodeFrame({ n: 3 }, Buffer.from('tail')),
    ]);
    for (const size of [5, 4096, 65536, bytes.length]) {
      const reused = Buffer.alloc(size);
      const got: { header: unknown; body: Buffer }[] = [];
      const d = new FrameDecoder('json');
      for (let i = 0; i < bytes.length; i += size) {
        const n = bytes.copy(reused, 0, i, i + size);
        d.push(reused.subarray(0, n), (f) => got.push(f), true);
        reused.fill(0xff);
      }
      expect(got.map((f) => f.header)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(got[1]?.body.equals(big)).toBe(true);
      expect(got[2]?.body.toString()).toBe('tail');
    }
  });

  it('refuses a frame over the limit', () => {
    expect(() => new FrameDecoder('json', 10).push(encodeFrame({ x: 'y'.repeat(20) }), () => {})).toThrow(
      /exceeds the limit of 10/,
    );
  });
});

describe('FrameRpcServer + FrameRpcClient', () => {
  it('answers calls, many in flight, each with its own result', async () => {
    const { client } = await pair({
      echo: async (d: { n: number }) => {
        await new Promise((r) => setTimeout(r, (10 - d.n) % 3));
        return { n: d.n };
      },
    });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, n) => client.call('echo', { n }, 1000)));
    expect(answers).toEqual(Array.from({ length: 10 }, (_, n) => ({ n })));
  });

  it('carries FloeErrors with their code, and anything else as INTERNAL naming the service', async () => {
    const { client } = await pair({
      missing: () => {
        throw new NotFoundError('function f not found');
      },
      bug: async () => {
        throw new TypeError('x is undefined');
      },
    });
    await expect(client.call('missing', {}, 1000)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: 'function f not found',
      fault: 'user',
    });
    const bug = await client.call('bug', {}, 1000).catch((e) => e);
    expect(bug).toBeInstanceOf(FloeError);
    expect(bug).toMatchObject({ code: 'INTERNAL', message: 'test: x is undefined' });
    await expect(client.call('nope', {}, 1000)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: "test: no handler for 'nope'",
    });
  });

  it('times out a call that gets no answer, and the connection stays usable', async () => {
    const { client } = await pair({ never: () => new Promise(() => {}), ok: () => 'ok' });
    await expect(client.call('never', {}, 30)).rejects.toBeInstanceOf(RpcTimeoutError);
    expect(await client.call('ok', {}, 1000)).toBe('ok');
  });

  it('times out each call at its own deadline, whatever order they were made in', async () => {
    const { client } = await pair({ never: () => new Promise(() => {}) });
    const order: string[] = [];
    const t0 = Date.now();
    let slowAt = 0;
    const track = (name: string, ms: number) =>
      client.call('never', {}, ms).catch((e) => {
        order.push(name);
        if (name === 'slow') slowAt = Date.now() - t0;
        return e;
      });
    const [slow, fast] = await Promise.all([track('slow', 150), track('fast', 30)]);
    expect(slow).toBeInstanceOf(RpcTimeoutError);
    expect(fast).toMatchObject({ code: 'DEADLINE_EXCEEDED', details: { timeoutMs: 30 } });
    // Order, not durations: on a loaded machine both may fire in the same millisecond.
    expect(order).toEqual(['fast', 'slow']);
    expect(slowAt).toBeGreaterThanOrEqual(145);
  });

  it('fails calls as UNAVAILABLE when nobody listens, or the server goes away mid-call', async () => {
    const { server, client, port } = await pair({ never: () => new Promise(() => {}) });
    const pending = client.call('never', {}, 5000);
    await new Promise((r) => setTimeout(r, 20));
    await server.close();
    const err = await pending.catch((e) => e);
    expect(err).toBeInstanceOf(RpcConnectionError);
    expect(err).toMatchObject({ code: 'UNAVAILABLE', details: { connection: true } });
    await expect(client.call('never', {}, 1000)).rejects.toThrow(/ECONNREFUSED/);
    // The next server on the same port is reached again: the client reconnects by itself.
    const again = new FrameRpcServer({ ok: () => 'again' }, 'test');
    await again.listen('127.0.0.1', port);
    cleanups.push(() => again.close());
    expect(await client.call('ok', {}, 1000)).toBe('again');
  });
});
