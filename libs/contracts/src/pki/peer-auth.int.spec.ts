import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { register } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '../rpc/frame-codec.js';
import { FrameRpcClient, RpcConnectionError } from '../rpc/frame-rpc-client.js';
import { FrameRpcServer } from '../rpc/frame-rpc-server.js';
import { type ClusterTls, ensureClusterTls } from './cluster-pki.js';

// Real openssl and real sockets: the CA and certificates are made as a service makes them.
const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-pki-test-'));
let server: ClusterTls;
let client: ClusterTls;
let stranger: ClusterTls;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  const caDir = path.join(dir, 'pki', 'ca');
  server = await ensureClusterTls({
    caDir,
    createCa: true,
    certDir: path.join(dir, 'srv', 'pki', 'agent'),
    role: 'agent',
    name: 'agent-t',
  });
  client = await ensureClusterTls({
    caDir,
    createCa: true,
    certDir: path.join(dir, 'cli', 'pki', 'scheduler'),
    role: 'scheduler',
    name: 'scheduler-t',
  });
  // Another cluster's CA: well-formed mutual TLS, but not ours.
  stranger = await ensureClusterTls({
    caDir: path.join(dir, 'other', 'ca'),
    createCa: true,
    certDir: path.join(dir, 'other', 'pki', 'scheduler'),
    role: 'scheduler',
    name: 'intruder',
  });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refused(listener: string): Promise<number> {
  const m = await register.getSingleMetric('floe_rpc_unauthenticated_total')?.get();
  return m?.values.find((v) => v.labels.listener === listener)?.value ?? 0;
}

/** A server whose `echo` answers what it got and keeps it in `calls`; closed after the test. */
function echo(listener: string, forceTls = false) {
  const calls: unknown[] = [];
  const srv = new FrameRpcServer(
    {
      echo: (d: unknown) => {
        calls.push(d);
        return d;
      },
    },
    'test',
    { tls: server, listener, forceTls },
  );
  cleanups.push(() => srv.close());
  return { srv, calls };
}

async function echoServer(listener: string, forceTls = false) {
  const { srv, calls } = echo(listener, forceTls);
  const port = await srv.listen('127.0.0.1', 0);
  return { port, calls };
}

/** Resolves once the peer closed the connection; collects what it sent before. */
function closedBy(socket: net.Socket): Promise<Buffer> {
  const got: Buffer[] = [];
  return new Promise((resolve) => {
    socket.on('data', (d) => got.push(d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(got)));
  });
}

describe('cluster PKI', () => {
  it('keeps keys 0600 in 0700 directories, and one CA for services started on one state dir', async () => {
    expect(statSync(path.join(dir, 'pki')).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'pki', 'ca', 'key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'pki', 'ca')).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'srv', 'pki', 'agent')).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'srv', 'pki', 'agent', 'key.pem')).mode & 0o777).toBe(0o600);
    expect(server.ca.equals(client.ca)).toBe(true);
    const again = await Promise.all(
      [1, 2, 3].map((i) =>
        ensureClusterTls({
          caDir: path.join(dir, 'race', 'ca'),
          createCa: true,
          certDir: path.join(dir, 'race', `s${i}`),
          role: 'agent',
          name: `agent-${i}`,
        }),
      ),
    );
    expect(new Set(again.map((t) => t.ca.toString())).size).toBe(1);
  });

  it('refuses to start on a configured CA dir that holds no CA', async () => {
    await expect(
      ensureClusterTls({
        caDir: path.join(dir, 'missing'),
        createCa: false,
        certDir: path.join(dir, 'x'),
        role: 'agent',
        name: 'a',
      }),
    ).rejects.toMatchObject({ code: 'STARTUP', message: expect.stringContaining('no CA') });
  });
});

describe('loopback client, TLS-only server', () => {
  it('fails with a message that says why: the port speaks TLS, dial its own address', async () => {
    const { port } = await echoServer('mismatch', true);
    const rpc = new FrameRpcClient({ host: '127.0.0.1', port }, { tls: client });
    cleanups.push(() => rpc.close());
    await expect(rpc.call('echo', 'x', 5000)).rejects.toThrow(
      /closed during the loopback handshake.*speaks TLS only/,
    );
  });
});

for (const forceTls of [false, true]) {
  const how = forceTls ? 'mutual TLS' : 'the loopback HMAC handshake';
  describe(`FrameRpcServer/Client over ${how}`, () => {
    const label = (l: string) => `${l}-${forceTls ? 'tls' : 'hmac'}`;

    it('serves a client holding the cluster PKI, many calls on one connection, the first ones sent before the handshake ends', async () => {
      const { port } = await echoServer(label('ok'), forceTls);
      const rpc = new FrameRpcClient({ host: '127.0.0.1', port }, { tls: client, forceTls });
      cleanups.push(() => rpc.close());
      const answers = await Promise.all([1, 2, 3].map((i) => rpc.call('echo', { i }, 5000)));
      expect(answers).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
      expect(await rpc.call('echo', 'again', 5000)).toBe('again');
      expect(await refused(label('ok'))).toBe(0);
    });

    it("closes a plaintext frame client, and TLS clients with no certificate or another CA's, before any handler runs, counting each", async () => {
      const { port, calls } = await echoServer(label('refused'), forceTls);
      const plain = net.connect(port, '127.0.0.1');
      const plainClosed = closedBy(plain);
      plain.write(encodeFrame({ i: 1, p: 'echo', d: 'steal' }));
      expect((await plainClosed).includes(Buffer.from('steal'))).toBe(false);
      for (const opts of [
        { ca: server.ca },
        { ca: server.ca, cert: stranger.cert, key: stranger.key },
      ] as tls.ConnectionOptions[]) {
        const s = tls.connect({
          ...opts,
          host: '127.0.0.1',
          port,
          checkServerIdentity: () => undefined,
          rejectUnauthorized: false,
        });
        const closed = closedBy(s);
        s.write(encodeFrame({ i: 1, p: 'echo', d: 'steal' }));
        expect((await closed).includes(Buffer.from('steal'))).toBe(false);
      }
      expect(calls).toEqual([]);
      await expect.poll(() => refused(label('refused'))).toBe(3);
    });

    it('a client of another cluster is refused, and a client refuses a server of another cluster', async () => {
      const { port, calls } = await echoServer(label('foreign'), forceTls);
      const intruder = new FrameRpcClient({ host: '127.0.0.1', port }, { tls: stranger, forceTls });
      cleanups.push(() => intruder.close());
      await expect(intruder.call('echo', 'steal', 5000)).rejects.toBeInstanceOf(RpcConnectionError);
      expect(calls).toEqual([]);
      await expect.poll(() => refused(label('foreign'))).toBe(1);

      const impostor = new FrameRpcServer({ echo: (d: unknown) => d }, 'impostor', {
        tls: stranger,
        forceTls,
      });
      const impostorPort = await impostor.listen('127.0.0.1', 0);
      cleanups.push(() => impostor.close());
      const rpc = new FrameRpcClient({ host: '127.0.0.1', port: impostorPort }, { tls: client, forceTls });
      cleanups.push(() => rpc.close());
      await expect(rpc.call('echo', 'secret request', 5000)).rejects.toBeInstanceOf(RpcConnectionError);
    });
  });
}

describe('FrameRpcServer/Client over a unix socket (the loopback HMAC handshake)', () => {
  async function unixEcho(listener: string) {
    const { srv, calls } = echo(listener);
    const file = path.join(dir, `${listener}.sock`);
    await srv.listenPath(file);
    return { srv, file, calls };
  }

  it('serves a client holding the cluster PKI on a 0600 socket file, which close() removes', async () => {
    const { srv, file } = await unixEcho('unix-ok');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const rpc = new FrameRpcClient({ path: file }, { tls: client });
    cleanups.push(() => rpc.close());
    const answers = await Promise.all([1, 2, 3].map((i) => rpc.call('echo', { i }, 5000)));
    expect(answers).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
    expect(await refused('unix-ok')).toBe(0);
    await srv.close();
    expect(existsSync(file)).toBe(false);
  });

  it('closes a plaintext frame client and a client of another cluster before any handler runs, counting each', async () => {
    const { file, calls } = await unixEcho('unix-refused');
    const plain = net.connect(file);
    const plainClosed = closedBy(plain);
    plain.write(encodeFrame({ i: 1, p: 'echo', d: 'steal' }));
    expect((await plainClosed).includes(Buffer.from('steal'))).toBe(false);
    const intruder = new FrameRpcClient({ path: file }, { tls: stranger });
    cleanups.push(() => intruder.close());
    await expect(intruder.call('echo', 'steal', 5000)).rejects.toBeInstanceOf(RpcConnectionError);
    expect(calls).toEqual([]);
    await expect.poll(() => refused('unix-refused')).toBe(2);
  });

  it('replaces a socket file left behind by an earlier run', async () => {
    const file = path.join(dir, 'stale.sock');
    writeFileSync(file, '');
    const srv = new FrameRpcServer({ ok: () => 'ok' }, 'test', { tls: server, listener: 'unix-stale' });
    await srv.listenPath(file);
    cleanups.push(() => srv.close());
    const rpc = new FrameRpcClient({ path: file }, { tls: client });
    cleanups.push(() => rpc.close());
    expect(await rpc.call('ok', {}, 5000)).toBe('ok');
  });
});
