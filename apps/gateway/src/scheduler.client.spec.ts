import net from 'node:net';
import { EnvReader, FloeError } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { SchedulerClient } from './scheduler.client.js';

describe(SchedulerClient.name, () => {
  it('turns an unreachable scheduler into UNAVAILABLE naming the address', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const client = new SchedulerClient(
      loadConfig(new EnvReader({ FLOE_SCHEDULER_RPC: `127.0.0.1:${port}` })),
    );
    const err = await client.call('fn.list', { namespace: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FloeError);
    expect(err).toMatchObject({ code: 'UNAVAILABLE' });
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    await client.onApplicationShutdown();
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
