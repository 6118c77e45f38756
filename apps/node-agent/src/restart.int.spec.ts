import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AgentInvokeClient,
  AgentPatterns,
  type ClusterTls,
  ensureClusterTls,
  FrameRpcClient,
  type FunctionVersion,
  redisKeys,
  versionRef,
} from '@floe/contracts';
import { detectCgroups } from '@floe/runtime';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JS helper shared with npm start
import { freePort, startRedis } from '../../../scripts/lib/redis.mjs';

// The built agent, killed with -9 and restarted: it must find and destroy what it owned.
const here = path.dirname(fileURLToPath(import.meta.url));
const main = path.resolve(here, '../dist/main.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-agent-restart-'));
const id = `restart-${path.basename(dir).slice(-6)}`;
const parent = `floe-${id}`;
let redis: { child: ChildProcess; url: string };
let agent: ChildProcess | undefined;
let http = 0;
/** The scheduler's side of the agent's authenticated invoke port: a certificate of the agent's CA. */
let caller: ClusterTls;
const caDir = path.join(dir, 'pki', 'ca');

async function startAgent(invokePort?: number, opts: { second?: boolean } = {}) {
  const port = await freePort();
  if (!opts.second) http = port;
  const child = spawn(process.execPath, [main], {
    env: {
      PATH: process.env.PATH,
      REDIS_URL: redis.url,
      FLOE_STATE_DIR: dir,
      FLOE_CA_DIR: caDir,
      FLOE_AGENT_ID: id,
      FLOE_AGENT_RPC: `127.0.0.1:${await freePort()}`,
      FLOE_AGENT_INVOKE: `127.0.0.1:${invokePort ?? (await freePort())}`,
      FLOE_AGENT_HTTP: `127.0.0.1:${port}`,
      FLOE_SCHEDULER_RPC: `127.0.0.1:${await freePort()}`,
      FLOE_STEMCELLS: '1',
    },
    stdio: ['ignore', 'ignore', opts.second ? 'pipe' : 'inherit'],
  });
  if (!opts.second) agent = child;
  return child;
}

async function containers(): Promise<number> {
  try {
    const r = await fetch(`http://127.0.0.1:${http}/metrics`);
    const text = await r.text();
    return [...text.matchAll(/^floe_agent_containers\{state="stemcell".*\} (\d+)$/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
  } catch {
    return -1;
  }
}

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 30_000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Every hierarchy detection finds (v1 controllers, cgroup2), so a pure v2 host is checked too.
const cgroups = detectCgroups();
const roots = [
  ...new Set([...Object.values(cgroups.v1Mounts), ...(cgroups.unifiedPath ? [cgroups.unifiedPath] : [])]),
];
/** The hierarchy whose cgroup.procs lists a container's processes: memory on v1/hybrid, else cgroup2. */
const procsRoot = cgroups.mode === 'v2' ? cgroups.unifiedPath! : cgroups.v1Mounts.memory!;
const cgroupDirs = () =>
  roots.flatMap((r) => {
    const p = `${r}/${parent}`;
    return existsSync(p)
      ? readdirSync(p, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => `${p}/${d.name}`)
      : [];
  });
const instanceMounts = () =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`${dir}/agent/instances`));
// A zombie is dead: after its agent died, reaping it is the host init's job, not ours.
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

beforeAll(async () => {
  if (!existsSync(main)) throw new Error(`${main} is missing: build first (npx tsc -b tsconfig.build.json)`);
  redis = await startRedis({ dir: path.join(dir, 'redis'), persist: false });
  caller = await ensureClusterTls({
    caDir,
    createCa: true,
    certDir: path.join(dir, 'caller', 'pki'),
    role: 'scheduler',
    name: 'test-caller',
  });
});

afterAll(async () => {
  if (agent && agent.exitCode === null) {
    agent.kill('SIGTERM');
    await new Promise((r) => agent?.once('exit', r));
  }
  redis?.child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

describe('node-agent restart safety', () => {
  it('exits with an error and leaves nothing behind when a listener cannot bind', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const child = await startAgent((taken.address() as net.AddressInfo).port);
      const code = await new Promise((r) => child.once('exit', r));
      expect(code).toBe(1);
      expect(cgroupDirs()).toEqual([]);
      expect(instanceMounts()).toEqual([]);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('after kill -9 a restarted agent destroys every container, cgroup and mount it owned', async () => {
    await startAgent();
    await until('three stemcells', async () => (await containers()) >= 3);
    const before = cgroupDirs();
    expect(before.length).toBeGreaterThan(0);
    expect(instanceMounts().length).toBeGreaterThan(0);
    const pids = before
      .filter((d) => d.startsWith(`${procsRoot}/`))
      .flatMap((d) => readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number));
    expect(pids.length).toBeGreaterThan(0);

    agent?.kill('SIGKILL');
    await new Promise((r) => agent?.once('exit', r));
    // Frozen containers outlive their agent: that is what recovery is for.
    expect(pids.some(alive)).toBe(true);

    await startAgent();
    await until('the restarted agent to serve', async () => (await containers()) >= 3);
    await until('old container processes to die', () => !pids.some(alive));
    const after = cgroupDirs();
    for (const d of before) expect(after).not.toContain(d);

    agent?.kill('SIGTERM');
    await new Promise((r) => agent?.once('exit', r));
    expect(cgroupDirs()).toEqual([]);
    expect(instanceMounts()).toEqual([]);
    for (const r of roots) expect(existsSync(`${r}/${parent}`)).toBe(false);
  });

  it("refuses a second agent on a locked state dir, which exits without touching the first one's containers", async () => {
    await startAgent();
    await until('three stemcells', async () => (await containers()) >= 3);
    const before = cgroupDirs();
    const pids = before
      .filter((d) => d.startsWith(`${procsRoot}/`))
      .flatMap((d) => readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number));
    expect(pids.length).toBeGreaterThan(0);

    const second = await startAgent(undefined, { second: true });
    let stderr = '';
    second.stderr?.on('data', (d) => {
      stderr += d;
    });
    const code = await new Promise((r) => second.once('exit', r));
    expect(code).toBe(1);
    expect(stderr).toContain(`state dir ${dir}/agent is in use by agent pid ${agent?.pid}`);
    // Its crash recovery never ran: the first agent's containers, cgroups and mounts are intact.
    expect(pids.filter(alive)).toEqual(pids);
    expect(cgroupDirs()).toEqual(before);
    expect(await containers()).toBeGreaterThanOrEqual(3);
    expect(readFileSync(`${dir}/agent/agent.pid`, 'utf8')).toBe(String(agent?.pid));

    agent?.kill('SIGTERM');
    await new Promise((r) => agent?.once('exit', r));
    expect(cgroupDirs()).toEqual([]);
    expect(instanceMounts()).toEqual([]);
  });

  it('a restarted agent refuses a version ref it never saw, and the caller resends the version whole', async () => {
    const port = await freePort();
    await startAgent(port);
    await until('the agent to serve', async () => (await containers()) >= 1, 60_000);
    const version = await storeFunction('ref-echo', 'module.exports = async () => "ok";');
    const request = {
      callId: 'c1',
      function: version.name,
      namespace: version.namespace,
      method: 'GET',
      path: '/',
      query: '',
      headers: {},
      body: Buffer.alloc(0),
    };
    const client = new AgentInvokeClient(new FrameRpcClient({ host: '127.0.0.1', port }, { tls: caller }));
    const raw = new FrameRpcClient({ host: '127.0.0.1', port }, { tls: caller });
    try {
      expect((await client.invoke({ request, version }, 20_000)).status).toBe(200);
      // Known now: a ref alone is enough.
      expect(
        await raw.call(AgentPatterns.invoke, { request, ref: versionRef(version) }, 20_000),
      ).toMatchObject({
        status: 200,
      });

      agent?.kill('SIGKILL');
      await new Promise((r) => agent?.once('exit', r));
      await startAgent(port);
      await until('the restarted agent to serve', async () => (await containers()) >= 1, 60_000);

      await expect(
        raw.call(AgentPatterns.invoke, { request, ref: versionRef(version) }, 20_000),
      ).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        details: { versionUnknown: versionRef(version) },
      });
      // The client still thinks the agent has it: it sends the ref, is refused, resends whole.
      const again = await client.invoke({ request: { ...request, callId: 'c2' }, version }, 20_000);
      expect(again.status).toBe(200);
      expect(Buffer.from(again.body).toString()).toBe('ok');
    } finally {
      client.close();
      raw.close();
      agent?.kill('SIGTERM');
      await new Promise((r) => agent?.once('exit', r));
    }
    expect(cgroupDirs()).toEqual([]);
    expect(instanceMounts()).toEqual([]);
  });
});

/** A node function's code archive in Redis, where the scheduler keeps it, and its version. */
async function storeFunction(name: string, source: string): Promise<FunctionVersion> {
  const src = path.join(dir, `code-${name}`);
  mkdirSync(src, { recursive: true });
  writeFileSync(path.join(src, 'index.js'), source);
  const blob = execFileSync('tar', ['-C', src, '-cz', '.']);
  const digest = createHash('sha256').update(blob).digest('hex');
  const r = new Redis(redis.url);
  try {
    await r.set(redisKeys().code(digest), blob);
  } finally {
    r.disconnect();
  }
  return {
    name,
    namespace: 'openfaas-fn',
    version: 1,
    createdAt: new Date().toISOString(),
    deployment: { service: name },
    runtime: 'node',
    image: 'floe/node:latest',
    codeDigest: digest,
    handler: 'index.js',
    memoryBytes: 128 * 1024 * 1024,
    timeoutMs: 10_000,
    maxConcurrency: 1,
    minScale: 0,
    maxScale: 1,
    env: {},
    secrets: [],
  };
}
