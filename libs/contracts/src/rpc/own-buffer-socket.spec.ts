import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OWN_BUFFER_BYTES, readIntoOwnBuffer } from './own-buffer-socket.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A unix socket server that accepts paused and reads each connection into its own buffer. */
async function serve(onChunk: (chunk: Buffer, sock: net.Socket) => void) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-own-buffer-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 's.sock');
  const sockets: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
    const sock = readIntoOwnBuffer(accepted, (chunk) => onChunk(chunk, sock));
    sockets.push(sock);
  });
  await new Promise<void>((r) => server.listen(file, r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
  });
  return { file, server, sockets };
}

describe(readIntoOwnBuffer.name, () => {
  it('reads an accepted connection in views of one buffer, larger than Node’s 64 KiB reads, and writes back on it', async () => {
    const sizes: number[] = [];
    const views = new Set<ArrayBuffer>();
    const got: Buffer[] = [];
    const sent = randomBytes(4 * 1024 * 1024);
    const { file } = await serve((chunk, sock) => {
      sizes.push(chunk.length);
      views.add(chunk.buffer as ArrayBuffer);
      got.push(Buffer.from(chunk)); // a view, valid only during the call
      if (got.reduce((n, b) => n + b.length, 0) === sent.length) sock.write('done');
    });
    const client = net.connect(file);
    cleanups.push(() => client.destroy());
    const answer = new Promise<string>((r) => client.once('data', (d) => r(String(d))));
    client.write(sent);
    expect(await answer).toBe('done');
    expect(Buffer.concat(got).equals(sent)).toBe(true);
    expect(views.size).toBe(1);
    expect(Math.max(...sizes)).toBeGreaterThan(64 * 1024);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(OWN_BUFFER_BYTES);
  });

  it('leaves the server counting no connection for the accepted socket it emptied, and closes with the new one', async () => {
    const { file, server, sockets } = await serve(() => {});
    const client = net.connect(file);
    cleanups.push(() => client.destroy());
    await new Promise((r) => client.once('connect', r));
    await expect.poll(() => sockets.length).toBe(1);
    const count = await new Promise<number>((r, j) => server.getConnections((e, n) => (e ? j(e) : r(n))));
    expect(count).toBe(0);
    const closed = new Promise((r) => client.once('close', r));
    sockets[0]?.destroy();
    await closed;
  });
});
