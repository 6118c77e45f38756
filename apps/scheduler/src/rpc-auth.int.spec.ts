import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { type ClusterTls, ensureClusterTls, FrameRpcClient, SchedulerPatterns } from '@floe/contracts';
import { Redis } from 'ioredis';
import { register } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootScheduler, rpcClient, schedulerEnv, tempState, uniquePrefix } from './testing/harness.js';

const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL)
  throw new Error('REDIS_URL is not set: the scheduler integration tests need a real redis-server');

// The scheduler as main.ts boots it with its cluster PKI: both of its ports take a peer of the
// cluster CA and nobody else, and count who they turned away.
const state = tempState();
const prefix = uniquePrefix();
const pki = (role: 'scheduler' | 'gateway', name: string, caDir: string): Promise<ClusterTls> =>
  ensureClusterTls({ caDir, createCa: true, certDir: path.join(state.dir, name), role, name });
let env: Record<string, string>;
let gateway: ClusterTls;
let stranger: ClusterTls;
let close: () => Promise<void>;

async function refused(listener: string): Promise<number> {
  const m = await register.getSingleMetric('floe_rpc_unauthenticated_total')?.get();
  return m?.values.find((v) => v.labels.listener === listener)?.value ?? 0;
}

/** A Nest TCP message as the attacker sent it; resolves to what came back before the close. */
function nestMessage(socket: net.Socket): Promise<string> {
  const json = JSON.stringify({ pattern: SchedulerPatterns.health, data: {}, id: 'x' });
  return new Promise((resolve) => {
    let got = '';
    socket.on('data', (d) => {
      got += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(got));
    socket.write(`${json.length}#${json}`);
  });
}

beforeAll(async () => {
  const caDir = path.join(state.dir, 'ca');
  const own = await pki('scheduler', 'scheduler', caDir);
  gateway = await pki('gateway', 'gateway', caDir);
  stranger = await pki('gateway', 'stranger', path.join(state.dir, 'other-ca'));
  env = await schedulerEnv(REDIS_URL as string, prefix, state.dir);
  const { app } = await bootScheduler(env, own);
  close = async () => {
    await app.close();
    const redis = new Redis(REDIS_URL as string);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  };
});
afterAll(async () => {
  await close?.();
  state.cleanup();
});

describe('scheduler ports with its cluster PKI', () => {
  const port = (v: string) => Number(env[v]?.split(':')[1]);

  it('answers a Nest TCP client holding a certificate of the cluster CA, many calls on one connection', async () => {
    const rpc = rpcClient(port('FLOE_SCHEDULER_RPC'), gateway);
    try {
      for (let i = 0; i < 3; i++) expect(await rpc.call(SchedulerPatterns.health, {})).toBeTruthy();
    } finally {
      rpc.close();
    }
  });

  it('closes a plain TCP, a certificate-less and a foreign-CA client on the RPC port unanswered, counting each', async () => {
    const rpcPort = port('FLOE_SCHEDULER_RPC');
    const before = await refused('scheduler-rpc');
    // Each made only when its turn comes: a TLS peer is refused during the handshake, at once.
    const tries = [
      () => net.connect(rpcPort, '127.0.0.1'),
      () => tls.connect({ host: '127.0.0.1', port: rpcPort, rejectUnauthorized: false }),
      () =>
        tls.connect({
          host: '127.0.0.1',
          port: rpcPort,
          rejectUnauthorized: false,
          cert: stranger.cert,
          key: stranger.key,
        }),
    ];
    for (const connect of tries) expect(await nestMessage(connect())).not.toContain('"id":"x"');
    await expect.poll(() => refused('scheduler-rpc')).toBe(before + 3);
  });

  it('serves the invoke channel to a peer of the cluster CA only', async () => {
    const where = { host: '127.0.0.1', port: port('FLOE_SCHEDULER_INVOKE') };
    const ok = new FrameRpcClient(where, { tls: gateway });
    const intruder = new FrameRpcClient(where, { tls: stranger });
    const before = await refused('scheduler-invoke');
    try {
      const call = {
        function: 'nope',
        namespace: 'openfaas-fn',
        method: 'GET',
        path: '/',
        query: '',
        headers: {},
        body: Buffer.alloc(0),
      };
      await expect(ok.call(SchedulerPatterns.invoke, call, 5000)).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(intruder.call(SchedulerPatterns.invoke, call, 5000)).rejects.toMatchObject({
        code: 'UNAVAILABLE',
      });
      await expect.poll(() => refused('scheduler-invoke')).toBe(before + 1);
    } finally {
      ok.close();
      intruder.close();
    }
  });
});
