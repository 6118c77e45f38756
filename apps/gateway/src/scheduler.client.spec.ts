import net from 'node:net';
import { EnvReader, FloeError } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { SchedulerClient } from './scheduler.client.js';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe(SchedulerClient.name, () => {
  it('turns an unreachable scheduler into UNAVAILABLE naming the address', async () => {
    const port = await freePort();
    const client = new SchedulerClient(
      loadConfig(new EnvReader({ FLOE_SCHEDULER_RPC: `127.0.0.1:${port}` })),
    );
    const err = await client.call('fn.list', { namespace: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FloeError);
    expect(err).toMatchObject({ code: 'UNAVAILABLE' });
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    await client.onApplicationShutdown();
  });

  it('reconnects once the scheduler comes up after a failed call', async () => {
    const port = await freePort();
    const client = new SchedulerClient(
      loadConfig(new EnvReader({ FLOE_SCHEDULER_RPC: `127.0.0.1:${port}` })),
    );
    await expect(client.call('agents.list', {})).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // Nest's client forgets the failed connection on the socket's 'close', just after the error.
    await new Promise((r) => setTimeout(r, 50));
    // A minimal Nest TCP peer: `<len>#<json>` frames, answering every packet with 'pong'.
    const srv = net.createServer((sock) => {
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        const packet = JSON.parse(d.slice(d.indexOf('#') + 1)) as { id: string };
        const json = JSON.stringify({ id: packet.id, response: 'pong', isDisposed: true });
        sock.write(`${json.length}#${json}`);
      });
    });
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    expect(await client.call('agents.list', {})).toBe('pong');
    await client.onApplicationShutdown();
    await new Promise((r) => srv.close(r));
  });

  it('times out a call the scheduler never answers as DEADLINE_EXCEEDED', async () => {
    const sockets: net.Socket[] = [];
    const srv = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const client = new SchedulerClient(
      loadConfig(new EnvReader({ FLOE_SCHEDULER_RPC: `127.0.0.1:${port}` })),
    );
    const err = await client.call('invoke', {}, 150).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    await client.onApplicationShutdown();
    for (const s of sockets) s.destroy();
    await new Promise((r) => srv.close(r));
  });
});

describe(`${SchedulerClient.name}.invoke (fast path)`, () => {
  it('answers an unreachable scheduler as UNAVAILABLE, and a silent one as DEADLINE_EXCEEDED', async () => {
    const port = await freePort();
    const client = new SchedulerClient(
      loadConfig(new EnvReader({ FLOE_SCHEDULER_INVOKE: `127.0.0.1:${port}` })),
    );
    const req = {
      callId: 'c',
      function: 'f',
      namespace: 'n',
      method: 'GET',
      path: '/',
      query: '',
      headers: {},
      body: Buffer.alloc(0),
    };
    const down = await client.invoke(req, 1000).catch((e: unknown) => e);
    expect(down).toMatchObject({ code: 'UNAVAILABLE' });
    expect((down as Error).message).toContain(`127.0.0.1:${port}`);
    const sockets: net.Socket[] = [];
    const srv = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    await expect(client.invoke(req, 100)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    await client.onApplicationShutdown();
    for (const s of sockets) s.destroy();
    await new Promise((r) => srv.close(r));
  });
});
