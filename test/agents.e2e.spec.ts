import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform } from '../scripts/lib/platform.mjs';
import { startRedis } from '../scripts/lib/redis.mjs';
import { codeArchive, uniqueName, waitFor } from './support/client.js';

// A platform of its own with two node-agents: this spec kills one of them.
const agent = new https.Agent({ keepAlive: false, rejectUnauthorized: false });
let dir: string;
let redis: Awaited<ReturnType<typeof startRedis>>;
let platform: Awaited<ReturnType<typeof startPlatform>>;

function call(method: string, p: string, body?: string | object, auth = false) {
  const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = `Basic ${Buffer.from('admin:two-agents').toString('base64')}`;
  return new Promise<{ status: number; text: string; headers: Record<string, unknown> }>(
    (resolve, reject) => {
      const req = https.request(new URL(p, platform.url), { method, headers, agent }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(data);
    },
  );
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'floe-e2e2-'));
  redis = await startRedis({ dir: path.join(dir, 'redis') });
  platform = await startPlatform({
    stateDir: dir,
    redisUrl: redis.url,
    agents: 2,
    quiet: process.env.FLOE_E2E_VERBOSE !== '1',
    env: { FLOE_ADMIN_PASSWORD: 'two-agents', FLOE_STEMCELLS: '1' },
  });
}, 180_000);

afterAll(async () => {
  await platform?.stop();
  redis?.child.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type PlatformAgent = { id: string; http: number; restart: () => { pid: number } };

/** A call of `name` that `agent` served (the instance id starts with the agent's id). */
function servedBy(name: string, agent: PlatformAgent) {
  return waitFor(
    `a call served by ${agent.id}`,
    async () => {
      const r = await call('GET', `/function/${name}`);
      return r.status === 200 && r.text.split(':')[1]?.startsWith(agent.id) ? r : undefined;
    },
    15_000,
  );
}

/** Restarts `agent` and waits until the new process answers its health check. */
function restart(agent: PlatformAgent) {
  const next = agent.restart();
  return waitFor(
    `${agent.id}, restarted`,
    async () => {
      const r = await fetch(`http://127.0.0.1:${agent.http}/healthz`).catch(() => undefined);
      const body = r?.ok ? await r.json() : undefined;
      return body?.pid === next.pid ? body : undefined;
    },
    60_000,
  );
}

/** Both agents up (each builds its own layer store first), so either may serve. */
async function agentsUp() {
  for (const a of platform.agents) {
    await waitFor(
      `agent ${a.id}`,
      async () =>
        (await fetch(`http://127.0.0.1:${a.http}/healthz`).catch(() => undefined))?.ok ? true : undefined,
      90_000,
    );
  }
}

async function deployNode(name: string, code: string) {
  const d = await call(
    'POST',
    '/system/functions',
    { service: name, runtime: 'node', handler: 'index.js', code },
    true,
  );
  expect(d.status, d.text).toBe(202);
}

/** The block of host ids each agent leased, from the lock files every agent on a host shares. */
function leasedBlocks(): Map<string, [number, number]> {
  const dir = '/run/floe/userns';
  const out = new Map<string, [number, number]>();
  for (const f of readdirSync(dir)) {
    const m = /^agent (\S+) .*: host ids (\d+)-(\d+)$/m.exec(readFileSync(path.join(dir, f), 'utf8'));
    if (m) out.set(m[1] as string, [Number(m[2]), Number(m[3])]);
  }
  return out;
}

describe('several node-agents', () => {
  it('gives each agent on the host host ids of its own, and its functions ids from them', async () => {
    await agentsUp();
    const blocks = leasedBlocks();
    const [a, b] = platform.agents.map((x: { id: string }) => blocks.get(x.id) as [number, number]);
    expect(a, 'agent-0 holds a lease').toBeTruthy();
    expect(b, 'agent-1 holds a lease').toBeTruthy();
    // Lock files of agents that died stay behind; only the live holders matter here.
    expect(a[1] < b[0] || b[1] < a[0], `${a} and ${b} overlap`).toBe(true);

    const name = uniqueName('ids');
    const code = codeArchive({
      'index.js': `module.exports = async () => process.env.FLOE_INSTANCE_ID + ' ' + require('fs').readFileSync('/proc/self/uid_map', 'utf8').trim();`,
    });
    await deployNode(name, code);
    const r = await call('GET', `/function/${name}`);
    expect(r.status, r.text).toBe(200);
    const [instance, inside, host, size] = r.text.split(/\s+/);
    const served = platform.agents.findIndex((x: { id: string }) => instance?.startsWith(x.id));
    const [lo, hi] = [a, b][served] as [number, number];
    expect(inside).toBe('0');
    expect(Number(host)).toBeGreaterThanOrEqual(lo);
    expect(Number(host) + Number(size) - 1).toBeLessThanOrEqual(hi);
  });

  it('keeps serving a function when the agent that ran it dies', async () => {
    await agentsUp();
    const name = uniqueName('ha');
    const code = codeArchive({
      'index.js': `module.exports = async () => require('os').hostname() + ':' + process.env.FLOE_INSTANCE_ID;`,
    });
    await deployNode(name, code);
    const first = await call('GET', `/function/${name}`);
    expect(first.status, first.text).toBe(200);
    // The instance id starts with its agent's id: find which agent served, and kill it.
    const served = platform.agents.find((a: { id: string }) => first.text.split(':')[1]?.startsWith(a.id));
    expect(served).toBeTruthy();
    served.child.kill('SIGKILL');
    const other = platform.agents.find((a: { id: string }) => a !== served);
    // Heartbeats expire within 3 s and the scheduler reads them every 500 ms.
    expect((await servedBy(name, other)).status).toBe(200);
    // The dead agent's frozen containers outlived it; its restart destroys them.
    expect((await restart(served)).status).toBe('ok');

    // Now the restarted agent is the only one left, and it serves the function again.
    other.child.kill('SIGKILL');
    expect((await servedBy(name, served)).status).toBe(200);
    // The other agent's containers outlived it too: its restart destroys them.
    await restart(other);
  });
});
