import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform } from '../scripts/lib/platform.mjs';
import { startRedis } from '../scripts/lib/redis.mjs';
import { codeArchive, routeCount, uniqueName, waitFor } from './support/client.js';

// The direct route (gateway → agent with the scheduler's placement, the scheduler off the
// call) on a platform of its own with two node-agents, as this spec kills one. That a call
// went direct is read from the gateway's floe_gateway_invoke_route_total{route}.
const PASSWORD = 'direct-route';
const QUEUE_WAIT_MS = 4000;
const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
let dir: string;
let redis: Awaited<ReturnType<typeof startRedis>>;
let platform: Awaited<ReturnType<typeof startPlatform>>;

interface Answer {
  status: number;
  body: Buffer;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

function call(
  method: string,
  p: string,
  body?: Buffer | string | object,
  opts: { auth?: boolean; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const data =
    body === undefined || Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.auth) headers.authorization = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(p, platform.url), { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, body: b, text: b.toString(), headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** The gateway's count of calls that went `route` (direct, slots-busy, agent-unreachable, ...). */
async function routed(route: string): Promise<number> {
  return routeCount((await call('GET', '/metrics')).text, route);
}

async function deploy(service: string, files: Record<string, string>, extra: Record<string, unknown> = {}) {
  const d = await call(
    'POST',
    '/system/functions',
    { service, runtime: 'node', handler: 'index.js', code: codeArchive(files), ...extra },
    { auth: true },
  );
  expect(d.status, d.text).toBe(202);
}

/**
 * A function of at most one instance, deployed with it ready before any call: a first call
 * placed while the deploy's own instance was not in a heartbeat yet could start a second one
 * on the other agent (max scale holds per heartbeat, not across a race).
 */
async function deployOne(service: string) {
  await deploy(service, CONCURRENCY, {
    labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' },
  });
  await waitFor(
    `${service}: one replica available`,
    async () => {
      const r = await call('GET', `/system/function/${service}`, undefined, { auth: true });
      const d = r.status === 200 ? JSON.parse(r.text) : undefined;
      return d?.availableReplicas === 1 && d?.replicas === 1 ? true : undefined;
    },
    60_000,
  );
}

/** Calls `name` until one call goes the direct route: the gateway holds a placement with an agent. */
async function untilDirect(name: string, body = ''): Promise<void> {
  await waitFor(
    `a call of ${name} over the direct route`,
    async () => {
      const before = await routed('direct');
      const r = await call('POST', `/function/${name}`, body);
      expect(r.status, r.text).toBe(200);
      return (await routed('direct')) > before ? true : undefined;
    },
    30_000,
  );
}

// Counts the calls in flight in this instance and answers the most it saw at once; `?ms=N` sleeps.
const CONCURRENCY = {
  'index.js': `let active = 0, most = 0;
module.exports = async (e) => {
  active++; most = Math.max(most, active);
  await new Promise((r) => setTimeout(r, Number(e.query.ms || 0)));
  active--;
  return { statusCode: 200, body: JSON.stringify({ most, instance: process.env.FLOE_INSTANCE_ID }) };
};`,
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'floe-e2e-direct-'));
  redis = await startRedis({ dir: path.join(dir, 'redis') });
  platform = await startPlatform({
    stateDir: dir,
    redisUrl: redis.url,
    agents: 2,
    quiet: process.env.FLOE_E2E_VERBOSE !== '1',
    env: { FLOE_ADMIN_PASSWORD: PASSWORD, FLOE_STEMCELLS: '1', FLOE_QUEUE_WAIT_MS: String(QUEUE_WAIT_MS) },
  });
  for (const a of platform.agents)
    await waitFor(
      `agent ${a.id}`,
      async () =>
        (await fetch(`http://127.0.0.1:${a.http}/healthz`).catch(() => undefined))?.ok ? true : undefined,
      90_000,
    );
  // Until the scheduler has both agents' heartbeats, it places as on a one-agent platform,
  // whose cold calls go to that agent (start-at-agent), not through the scheduler.
  await waitFor(
    'the scheduler placing on both agents',
    async () => {
      const r = await fetch(`http://127.0.0.1:${platform.scheduler.http}/metrics`).catch(() => undefined);
      return /^scheduler_agents\{state="up"\} 2$/m.test((await r?.text()) ?? '') ? true : undefined;
    },
    30_000,
  );
}, 240_000);

afterAll(async () => {
  agent.destroy();
  await platform?.stop();
  redis?.child.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the direct route (gateway → agent)', () => {
  it("sends a new function's second call straight to the agent its first call started an instance on", async () => {
    const name = uniqueName('dr-second');
    // Min scale 0: nothing starts on deploy, so the first call starts the instance.
    await deploy(
      name,
      { 'index.js': "module.exports = async () => ({ statusCode: 200, body: 'ok' });" },
      { labels: { 'com.openfaas.scale.min': '0' } },
    );
    const [warm, direct] = [await routed('no-warm-instance'), await routed('direct')];
    expect((await call('POST', `/function/${name}`)).status).toBe(200);
    expect(await routed('no-warm-instance')).toBe(warm + 1);
    // Not a heartbeat and a poll later (~1.5 s of calls through the scheduler): the next call.
    expect((await call('POST', `/function/${name}`)).status).toBe(200);
    expect(await routed('direct')).toBe(direct + 1);
  });

  it('echoes 1 MiB and 4 MiB binary bodies byte-identical, straight from the gateway to the agent', async () => {
    const name = uniqueName('dr-bytes');
    await deploy(name, { 'index.js': 'module.exports = async (e) => ({ statusCode: 200, body: e.body });' });
    await untilDirect(name);
    for (const size of [1024 * 1024, 4 * 1024 * 1024]) {
      const body = randomBytes(size);
      const before = await routed('direct');
      const r = await call('POST', `/function/${name}`, body, {
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(r.status, r.text.slice(0, 200)).toBe(200);
      expect(r.body.length).toBe(size);
      expect(r.body.equals(body)).toBe(true);
      expect(await routed('direct')).toBe(before + 1);
    }
  });

  it('holds a function at max scale to its concurrency: a second call queues for the slot, then is served', async () => {
    const name = uniqueName('dr-queue');
    await deployOne(name);
    await untilDirect(name);
    // The slot is held for 1.5 s; the second call arrives while it is, and waits (queue wait 4 s).
    const first = call('POST', `/function/${name}?ms=1500`);
    await new Promise((r) => setTimeout(r, 300));
    const second = call('POST', `/function/${name}?ms=0`);
    const [a, b] = await Promise.all([first, second]);
    expect([a.status, b.status], `${a.text} ${b.text}`).toEqual([200, 200]);
    // One instance, one call at a time (com.floe.max-concurrency defaults to 1).
    expect(JSON.parse(a.text).instance).toBe(JSON.parse(b.text).instance);
    expect(JSON.parse(a.text).most).toBe(1);
    expect(JSON.parse(b.text).most).toBe(1);
  });

  it('answers 429 with Retry-After when a call over max scale waits out the queue, and serves again after', async () => {
    const name = uniqueName('dr-429');
    await deployOne(name);
    await untilDirect(name);
    // Held far longer than the queue wait: the second call must give up first.
    const long = call('POST', `/function/${name}?ms=${QUEUE_WAIT_MS * 3}`);
    await new Promise((r) => setTimeout(r, 500));
    const over = await call('POST', `/function/${name}`);
    expect(over.status, over.text).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(over.text).error.code).toBe('RESOURCE_EXHAUSTED');
    expect((await long).status).toBe(200);
    expect((await call('POST', `/function/${name}`)).status).toBe(200);
  });

  it('lets a function with room grow past its slots: calls over them queue at its agent, which scales out', async () => {
    const name = uniqueName('dr-grow');
    await deploy(name, CONCURRENCY, { labels: { 'com.openfaas.scale.max': '4' } });
    await untilDirect(name);
    const before = await routed('queued-at-agent');
    const answers = await Promise.all([0, 1, 2].map(() => call('POST', `/function/${name}?ms=4000`)));
    for (const a of answers) expect(a.status, a.text).toBe(200);
    // Each instance still served one call at a time; more than one instance served them.
    for (const a of answers) expect(JSON.parse(a.text).most).toBe(1);
    expect(new Set(answers.map((a) => JSON.parse(a.text).instance)).size).toBeGreaterThan(1);
    // Its one agent took them: no hop through the scheduler.
    expect(await routed('queued-at-agent')).toBeGreaterThan(before);
  });

  it('retries a call through the scheduler when the agent it placed died, and keeps serving from the other', async () => {
    const name = uniqueName('dr-dead');
    await deploy(name, {
      'index.js': 'module.exports = async () => ({ statusCode: 200, body: process.env.FLOE_INSTANCE_ID });',
    });
    await untilDirect(name);
    const first = await call('POST', `/function/${name}`);
    type PlatformAgent = {
      id: string;
      http: number;
      child: { kill: (s: string) => void; once: (e: string, f: () => void) => void };
      restart: () => { pid: number };
    };
    const served = platform.agents.find((a: PlatformAgent) => first.text.startsWith(a.id)) as PlatformAgent;
    const other = platform.agents.find((a: PlatformAgent) => a !== served) as PlatformAgent;
    expect(served, first.text).toBeTruthy();
    const unreachable = await routed('agent-unreachable');
    const exited = new Promise<void>((r) => served.child.once('exit', r));
    served.child.kill('SIGKILL');
    await exited;
    // The very next call: the gateway finds the agent gone, drops its placement and hands the
    // call to the scheduler, which retries it on the other agent.
    const next = await call('POST', `/function/${name}`);
    expect(next.status, next.text).toBe(200);
    expect(next.text.startsWith(other.id), next.text).toBe(true);
    expect(await routed('agent-unreachable')).toBe(unreachable + 1);
    // Placed again (the dead agent left out), calls go direct to the other agent.
    await untilDirect(name);
    const again = await call('POST', `/function/${name}`);
    expect(again.text.startsWith(other.id), again.text).toBe(true);
    // The dead agent's frozen containers outlived it; its restart destroys them.
    const next2 = served.restart();
    await waitFor(
      `${served.id}, restarted`,
      async () => {
        const r = await fetch(`http://127.0.0.1:${served.http}/healthz`).catch(() => undefined);
        const b = r?.ok ? await r.json() : undefined;
        return b?.pid === next2.pid ? b : undefined;
      },
      60_000,
    );
  });

  it('keeps the async path: a 202, then the callback carries the function answer', async () => {
    const name = uniqueName('dr-async');
    await deploy(name, { 'index.js': 'module.exports = async (e) => ({ statusCode: 200, body: e.body });' });
    const http = await import('node:http');
    const got: Buffer[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push(Buffer.concat(chunks));
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const body = randomBytes(64 * 1024);
      const r = await call('POST', `/async-function/${name}`, body, {
        headers: {
          'x-callback-url': `http://127.0.0.1:${port}/cb`,
          'content-type': 'application/octet-stream',
        },
      });
      expect(r.status, r.text).toBe(202);
      await waitFor('the callback', async () => (got.length ? true : undefined), 30_000);
      expect(got[0]?.equals(body)).toBe(true);
    } finally {
      server.close();
    }
  });
});
