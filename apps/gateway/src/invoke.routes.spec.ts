import { EnvReader, type InvokeRequest, type InvokeResponse } from '@floe/contracts';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { InvokeHandler } from './invoke.handler.js';
import { registerInvokeRoutes } from './invoke.routes.js';
import { GatewayMetrics } from './metrics.js';
import type { SchedulerClient } from './scheduler.client.js';

/** A scheduler stub: records requests, answers through `answer`. */
function stub(answer: (req: InvokeRequest) => Promise<InvokeResponse>) {
  const seen: InvokeRequest[] = [];
  const client = {
    invoke: (req: InvokeRequest) => {
      seen.push(req);
      return answer(req);
    },
  } as unknown as SchedulerClient;
  return { client, seen };
}

const ok = (req: InvokeRequest): Promise<InvokeResponse> =>
  Promise.resolve({
    status: 200,
    headers: {},
    body: req.body,
    start: 'warm',
    functionMs: 0,
    agentId: 'a',
    instanceId: 'i',
  });

let apps: ReturnType<typeof Fastify>[] = [];
afterEach(async () => {
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
});

async function boot(env: Record<string, string>, answer = ok) {
  const config = loadConfig(new EnvReader(env));
  const s = stub(answer);
  const app = Fastify();
  const metrics = new GatewayMetrics(async () => new Map());
  registerInvokeRoutes(app, config, s.client, new InvokeHandler(config, s.client, metrics));
  await app.ready();
  apps.push(app);
  return { app, seen: s.seen };
}

describe(registerInvokeRoutes.name, () => {
  it('hands JSON bodies over unparsed, byte for byte', async () => {
    const { app, seen } = await boot({});
    const raw = '{ "z": 1,\n "a": [ ] }';
    const r = await app.inject({
      method: 'POST',
      url: '/function/f',
      payload: raw,
      headers: { 'content-type': 'application/json' },
    });
    expect(r.statusCode).toBe(200);
    expect(seen[0]!.body.toString()).toBe(raw);
    expect(r.body).toBe(raw);
  });

  it('sheds load with 429 + Retry-After once FLOE_GATEWAY_MAX_INFLIGHT calls are waiting', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { app, seen } = await boot({ FLOE_GATEWAY_MAX_INFLIGHT: '1' }, async (req) => {
      await gate;
      return ok(req);
    });
    const first = app.inject({ method: 'GET', url: '/function/f' });
    await new Promise((r) => setTimeout(r, 20));
    const second = await app.inject({ method: 'GET', url: '/function/f' });
    expect(second.statusCode).toBe(429);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.json().error.code).toBe('RESOURCE_EXHAUSTED');
    release();
    expect((await first).statusCode).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it('answers 404 with a JSON body when no function is named', async () => {
    const { app, seen } = await boot({});
    const r = await app.inject({ method: 'GET', url: '/function/' });
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe('NOT_FOUND');
    expect(seen).toHaveLength(0);
  });
});
