import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FunctionVersion } from '@floe/contracts';
import { HostMountsFfi, Runtime } from '@floe/runtime';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeCgroupParent } from './agent-lock.js';
import { ChannelServer } from './channel-server.js';
import { ContainerLauncher } from './container-launcher.js';
import type { Instance } from './instance.js';
import { LogStore } from './log-store.js';
import { ensureWatchdog } from './native-build.js';
import { Pool, type PoolOptions } from './pool.js';
import { recover } from './recovery.js';
import { SnapshotRootfs } from './snapshot-rootfs.js';
import { alive, cgroupDirs, cgroupFile, kernelFrozen, mountsUnder } from './testing/host-leaks.js';

// The real launcher under the real pool: containers from the layer store, cgroups, freezer,
// host mounts and the channel socket, as the agent runs them.
const MI = 1024 * 1024;
const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-launcher-'));
const parent = `floe-test-launcher-${path.basename(dir).slice(-6)}`;
const instancesDir = path.join(dir, 'instances');
const code = new Map<string, Buffer>();
let runtime: Runtime;
let rootfs: SnapshotRootfs;
let channel: ChannelServer;
let launcher: ContainerLauncher;
let pool: Pool | undefined;

/** A node function's code archive, stored where `sources.code` finds it; returns its digest. */
function nodeCode(source: string): string {
  const src = mkdtempSync(path.join(dir, 'src-'));
  writeFileSync(path.join(src, 'index.js'), source);
  const blob = execFileSync('tar', ['-C', src, '-cz', '.']);
  const digest = createHash('sha256').update(blob).digest('hex');
  code.set(digest, blob);
  return digest;
}

function version(name: string, source: string, over: Partial<FunctionVersion> = {}): FunctionVersion {
  return {
    name,
    namespace: 'ns',
    version: 1,
    createdAt: '',
    deployment: { service: name },
    runtime: 'node',
    image: 'floe/node:latest',
    codeDigest: nodeCode(source),
    handler: 'index.js',
    memoryBytes: 64 * MI,
    timeoutMs: 10_000,
    maxConcurrency: 1,
    minScale: 0,
    maxScale: 5,
    env: {},
    secrets: [],
    ...over,
  };
}

const ECHO = 'module.exports = async (e) => ({ statusCode: 200, body: "echo:" + e.rawBody.toString() });';

function makePool(over: Partial<PoolOptions> = {}, on: ContainerLauncher = launcher): Pool {
  pool = new Pool(on, {
    capacityBytes: 1024 * MI,
    pauseGraceMs: 20,
    keepAliveMs: 60_000,
    reclaimAfterMs: 60_000,
    stemcellBytes: 64 * MI,
    stemcells: {},
    ...over,
  });
  return pool;
}

const call = (p: Pool, v: FunctionVersion, body = '') =>
  p.invoke(v, { callId: 'c', method: 'POST', path: '/', query: '', headers: {} }, Buffer.from(body));

const only = (p: Pool, name: string): Instance => {
  const found = p.list().filter((i) => i.version?.name === name);
  expect(found).toHaveLength(1);
  return found[0]!;
};
const pidsOf = (id: string) =>
  readFileSync(cgroupFile(parent, id, ['memory', 'cgroup.procs'], 'cgroup.procs'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number);
const memLimit = (id: string) =>
  readFileSync(cgroupFile(parent, id, ['memory', 'memory.limit_in_bytes'], 'memory.max'), 'utf8').trim();
const memUsage = (id: string) =>
  Number(readFileSync(cgroupFile(parent, id, ['memory', 'memory.usage_in_bytes'], 'memory.current'), 'utf8'));

/** Nothing of container `id` is left: no cgroup in any hierarchy, no mount, no dir, no process. */
async function expectGone(id: string, pids: number[]) {
  await expect.poll(() => pids.filter(alive), { timeout: 20_000 }).toEqual([]);
  expect(cgroupDirs(parent, id)).toEqual([]);
  expect(mountsUnder(path.join(instancesDir, id))).toEqual([]);
  expect(existsSync(path.join(instancesDir, id))).toBe(false);
  expect((await runtime.list()).map((c) => c.id)).not.toContain(id);
  expect(await rootfs.service.containers()).not.toContain(id);
}

beforeAll(async () => {
  runtime = new Runtime({ stateDir: path.join(dir, 'state'), cgroupParent: parent });
  // Builds the base images into this file's own layer dir (~5 s once).
  rootfs = await SnapshotRootfs.open(path.join(dir, 'layers'));
  channel = new ChannelServer(path.join(dir, 'run', 'agent.sock'));
  await channel.listen();
  mkdirSync(instancesDir, { recursive: true });
  launcher = new ContainerLauncher(launcherOptions());
});

function launcherOptions(): ConstructorParameters<typeof ContainerLauncher>[0] {
  return {
    runtime,
    rootfs,
    mounts: new HostMountsFfi(),
    channel,
    logs: new LogStore(path.join(dir, 'logs')),
    sources: {
      code: async (digest) => code.get(digest) ?? Buffer.alloc(0),
      secrets: async (_ns, names) => Object.fromEntries(names.map((n) => [n, `value-of-${n}`])),
    },
    instancesDir,
    watchdogPath: ensureWatchdog(),
    writableBytes: 16 * MI,
    startTimeoutMs: 15_000,
  };
}

afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

afterAll(async () => {
  await pool?.close();
  // Whatever a failed test left: the agent's own crash recovery takes it down.
  if (runtime) await recover(runtime, new HostMountsFfi(), instancesDir, parent).catch(() => {});
  await channel?.close();
  if (runtime) {
    runtime.close();
    removeCgroupParent(runtime.cgroups, parent);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe(`${ContainerLauncher.name} (real containers)`, () => {
  it('launches a container, binds code and secrets into it, and serves calls', async () => {
    const p = makePool();
    const v = version(
      'bound',
      `const fs = require('fs');
       module.exports = async (e) => ({ statusCode: 200, body: JSON.stringify({
         body: e.rawBody.toString(),
         secret: fs.readFileSync('/var/openfaas/secrets/token', 'utf8'),
         code: fs.readdirSync('/code'),
         pid1: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0')[0],
         env: process.env.GREETING,
       }) });`,
      { secrets: ['token'], env: { GREETING: 'hi' } },
    );
    const r = await call(p, v, 'x');
    expect(r.start).toBe('cold');
    expect(JSON.parse(r.body.toString())).toEqual({
      body: 'x',
      secret: 'value-of-token',
      code: ['index.js'],
      pid1: 'floe-init', // PID 1 of its own pid namespace
      env: 'hi',
    });
    const inst = only(p, 'bound');
    // A real container: its own cgroup with the function's memory cap, the code bound on the
    // host's shared point under the instance dir.
    expect(memLimit(inst.id)).toBe(String(64 * MI));
    expect(pidsOf(inst.id).length).toBeGreaterThan(0);
    expect(mountsUnder(path.join(instancesDir, inst.id)).length).toBeGreaterThan(0);
  });

  it('freezes an idle instance in its cgroup after the pause grace, and a call thaws it', async () => {
    const p = makePool();
    const v = version('frozen', ECHO);
    expect((await call(p, v, 'a')).start).toBe('cold');
    const inst = only(p, 'frozen');
    await expect.poll(() => inst.state, { timeout: 20_000 }).toBe('paused');
    expect(kernelFrozen(parent, inst.id)).toBe(true);
    const r = await call(p, v, 'b');
    expect(r.start).toBe('warm');
    expect(r.body.toString()).toBe('echo:b');
    expect(r.instanceId).toBe(inst.id);
    // Thawed for the call; frozen again once idle past the grace.
    await expect.poll(() => inst.state, { timeout: 20_000 }).toBe('paused');
    expect(kernelFrozen(parent, inst.id)).toBe(true);
  });

  it('reclaims a long-paused instance down to the memory its cgroup reports, and restores the cap before the thaw', async () => {
    const p = makePool({ reclaimAfterMs: 100 });
    const v = version('reclaim', ECHO);
    await call(p, v, 'a');
    const inst = only(p, 'reclaim');
    expect(memLimit(inst.id)).toBe(String(64 * MI));
    await expect.poll(() => inst.reclaimed, { timeout: 20_000 }).toBe(true);
    expect(kernelFrozen(parent, inst.id)).toBe(true);
    // The lowered cap is what the cgroup said it used, rounded up to a MiB (8 MiB at least).
    // The backend's figure is the cgroup's own (read on either side, in case the kernel moves it).
    const low = memUsage(inst.id);
    const used = (await inst.backend.memoryUsage()).bytes;
    const high = memUsage(inst.id);
    expect(used).toBeGreaterThan(0);
    expect(used).toBeGreaterThanOrEqual(Math.min(low, high));
    expect(used).toBeLessThanOrEqual(Math.max(low, high));
    const lowered = Number(memLimit(inst.id));
    expect(lowered).toBeLessThan(64 * MI);
    expect(lowered % MI).toBe(0);
    expect(lowered).toBeGreaterThanOrEqual(Math.max(used, 8 * MI));

    const r = await call(p, v, 'b');
    expect(r.body.toString()).toBe('echo:b');
    expect(r.start).toBe('warm');
    expect(inst.reclaimed).toBe(false);
    expect(memLimit(inst.id)).toBe(String(64 * MI));
  });

  it('kills a function over its cgroup memory cap and reports OOMKilled', async () => {
    const p = makePool();
    const v = version(
      'hog',
      'module.exports = async () => { const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1)); };',
      { memoryBytes: 64 * MI },
    );
    await expect(call(p, v)).rejects.toMatchObject({
      code: 'FUNCTION_FAILED',
      details: { reason: 'OOMKilled', limitBytes: 64 * MI },
    });
    expect(p.list().filter((i) => i.version?.name === 'hog')).toEqual([]);
  });

  it('evicts the least recently used paused container when the memory capacity is full, leaving nothing of it', async () => {
    const p = makePool({ capacityBytes: 128 * MI });
    const a = version('evict-a', ECHO);
    const b = version('evict-b', ECHO);
    await call(p, a);
    const first = only(p, 'evict-a');
    const firstPids = pidsOf(first.id);
    await expect.poll(() => first.state, { timeout: 20_000 }).toBe('paused');
    await call(p, b);
    await expect.poll(() => only(p, 'evict-b').state, { timeout: 20_000 }).toBe('paused');
    const r = await call(p, version('evict-c', ECHO), 'c');
    expect(r.body.toString()).toBe('echo:c');
    expect(
      p
        .list()
        .map((i) => i.version?.name)
        .sort(),
    ).toEqual(['evict-b', 'evict-c']);
    await expectGone(first.id, firstPids);
    // The survivors keep their real caps: two of 64 MiB fill the 128 MiB.
    for (const i of p.list()) expect(memLimit(i.id)).toBe(String(64 * MI));
  });

  it('starts a cold node function in a prepared sandbox with its own limit, refills the stock, and closing leaves nothing', async () => {
    const l = new ContainerLauncher({ ...launcherOptions(), sandboxBytes: 256 * MI });
    const prefix = `sb${path.basename(dir).slice(-6)}`;
    try {
      await l.prepareSandboxes({ node: 1 }, prefix);
      expect(l.sandboxCount('node')).toBe(1);
      const waiting = (await runtime.list()).filter((c) => c.id.startsWith(`${prefix}-node-s`));
      expect(waiting.map((c) => c.status)).toEqual(['created']);
      const sandbox = waiting[0]!.id;
      // Made up to the exec: only floe-init waits in it, no node yet.
      expect(pidsOf(sandbox)).toHaveLength(1);
      expect(readlinkSync(`/proc/${pidsOf(sandbox)[0]}/exe`)).toMatch(/floe-init/);

      const p = makePool({}, l);
      const r = await call(p, version('sb-a', ECHO), 'x');
      expect([r.status, r.body.toString(), r.start]).toEqual([200, 'echo:x', 'cold']);
      const inst = only(p, 'sb-a');
      expect(inst.id).toBe(sandbox);
      expect(memLimit(sandbox)).toBe(String(64 * MI));
      // The stock is topped up behind the start, with a new sandbox.
      await expect.poll(() => l.sandboxCount('node'), { timeout: 20_000 }).toBe(1);
      const next = (await runtime.list()).find(
        (c) => c.id.startsWith(`${prefix}-node-s`) && c.id !== sandbox,
      );
      expect(next?.status).toBe('created');

      // A sandbox whose floe-init dies while it waits leaves the stock, and nothing of it stays;
      // the next cold start still gets its instance (fresh, or from a later refill).
      const nextPids = pidsOf(next!.id);
      process.kill(nextPids[0]!, 'SIGKILL');
      // Its teardown runs when the reaper reports the exit; removing its dir is the last step.
      await expect.poll(() => existsSync(path.join(instancesDir, next!.id)), { timeout: 20_000 }).toBe(false);
      await expectGone(next!.id, nextPids);
      const r2 = await call(p, version('sb-b', ECHO), 'y');
      expect([r2.status, r2.body.toString()]).toEqual([200, 'echo:y']);
      expect(only(p, 'sb-b').id).not.toBe(next!.id);

      const pids = p.list().flatMap((i) => pidsOf(i.id));
      const ids = p.list().map((i) => i.id);
      await p.close();
      pool = undefined;
      await l.close();
      for (const id of ids) await expectGone(id, pids);
      expect(cgroupDirs(parent)).toEqual([]);
      expect(mountsUnder(instancesDir)).toEqual([]);
    } finally {
      await l.close();
    }
  });

  it('on release (pool close) leaves no container, cgroup, mount, dir, writable layer or process behind', async () => {
    const p = makePool();
    await call(p, version('rel-a', ECHO));
    await call(p, version('rel-b', ECHO));
    const ids = p.list().map((i) => i.id);
    const pids = ids.flatMap(pidsOf);
    expect(pids.length).toBeGreaterThan(1);
    await p.close();
    pool = undefined;
    for (const id of ids) await expectGone(id, pids);
    expect(cgroupDirs(parent)).toEqual([]);
    expect(mountsUnder(instancesDir)).toEqual([]);
  });
});
