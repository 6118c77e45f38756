import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FunctionVersion } from '@floe/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EvictionReason } from './capacity.js';
import { ChannelServer } from './channel-server.js';
import type { Instance } from './instance.js';
import { type Launcher, type LaunchOptions, Pool, type PoolOptions } from './pool.js';
import { ProcessLauncher } from './testing/process-launcher.js';

// The pool's admission and eviction over plain processes (testing/process-launcher.ts), whose
// cgroup usage is stated per function here; the e2e suite runs the same against real cgroups.
const MI = 1024 * 1024;
const CODE = Object.fromEntries(
  ['light', 'heavy1', 'heavy2', 'f', 'g', 'h'].map((n) => [
    n,
    { 'index.js': `module.exports = async () => '${n}';` },
  ]),
);
CODE.slow = {
  'index.js':
    "module.exports = async () => { await new Promise((r) => setTimeout(r, 300)); return 'slow'; };",
};

/** A ProcessLauncher whose instances report `usage[function]` as their memory usage. */
class SizedLauncher implements Launcher {
  constructor(
    private readonly inner: ProcessLauncher,
    private readonly usage: Record<string, number>,
  ) {}

  async launch(opts: LaunchOptions) {
    const r = await this.inner.launch(opts);
    const bytes = this.usage[opts.version?.name ?? ''] ?? MI;
    r.backend.memoryUsage = async () => ({ bytes, peakBytes: bytes, nrThrottled: 0, oomKills: 0 });
    return r;
  }
  bind(id: string, v: FunctionVersion) {
    return this.inner.bind(id, v);
  }
  release(id: string) {
    return this.inner.release(id);
  }
}

function version(name: string, memoryBytes: number): FunctionVersion {
  return {
    name,
    namespace: 'ns',
    version: 1,
    createdAt: '',
    deployment: { service: name },
    runtime: 'node',
    image: 'floe/node:latest',
    handler: 'index.js',
    memoryBytes,
    timeoutMs: 5000,
    maxConcurrency: 1,
    minScale: 0,
    maxScale: 5,
    env: {},
    secrets: [],
  };
}

const req = () => ({ callId: 'c', method: 'POST', path: '/', query: '', headers: {} });

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('pool admission and eviction', () => {
  let dir: string;
  let server: ChannelServer;
  let inner: ProcessLauncher;
  let pool: Pool | undefined;
  let evicted: { reason: EvictionReason; fn: string | undefined }[];

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'floe-evict-'));
    server = new ChannelServer(path.join(dir, 'agent.sock'));
    await server.listen();
    inner = new ProcessLauncher(server, dir, CODE);
    evicted = [];
  });

  afterEach(async () => {
    await pool?.close();
    pool = undefined;
    for (const c of inner.children.values()) c.kill('SIGKILL');
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function makePool(usage: Record<string, number>, over: Partial<PoolOptions>): Pool {
    pool = new Pool(new SizedLauncher(inner, usage), {
      capacityBytes: 320 * MI,
      pauseGraceMs: 10,
      keepAliveMs: 60_000,
      reclaimAfterMs: 60_000,
      stemcellBytes: 64 * MI,
      stemcells: {},
      events: {
        evict: (reason: EvictionReason, i: Instance) => evicted.push({ reason, fn: i.version?.name }),
      },
      ...over,
    });
    return pool;
  }

  const call = (p: Pool, v: FunctionVersion) => p.invoke(v, req(), Buffer.alloc(0));
  const frozenAtUsage = (p: Pool, n: number) =>
    until(`${n} instances frozen and measured`, () => {
      const paused = p.list().filter((i) => i.state === 'paused' && i.frozenBytes !== undefined);
      return paused.length === n;
    });

  it('admits frozen instances at their usage, past capacity / limit, and never past capacity', async () => {
    const p = makePool({ f: 8 * MI, g: 8 * MI, h: 8 * MI }, { capacityBytes: 256 * MI, overcommit: 4 });
    const fns = ['f', 'g', 'h'].map((n) => version(n, 128 * MI));
    for (const [i, v] of fns.entries()) {
      expect((await call(p, v)).start).toBe('cold');
      await frozenAtUsage(p, i + 1);
    }
    // 3 × 128 MiB of limits in 256 MiB: each frozen one counts at its 8 MiB.
    expect(evicted).toEqual([]);
    expect(p.usedBytes).toBe(24 * MI);
    expect(p.limitBytes).toBe(384 * MI);
  });

  it('evicts other frozen instances before a thaw that would not fit at its limit', async () => {
    const p = makePool({ light: 20 * MI, heavy1: 90 * MI, heavy2: 90 * MI }, { overcommit: 4 });
    const light = version('light', 256 * MI);
    await call(p, light);
    await frozenAtUsage(p, 1);
    await call(p, version('heavy1', 128 * MI));
    await frozenAtUsage(p, 2);
    await call(p, version('heavy2', 128 * MI));
    await frozenAtUsage(p, 3);
    expect(evicted).toEqual([]);
    // 200 MiB frozen; thawed, light needs 256 MiB instead of 20: both heavy ones must go first.
    const r = await call(p, light);
    expect(r.start).toBe('warm');
    expect(r.body.toString()).toBe('light');
    expect(evicted).toEqual([
      { reason: 'thaw', fn: 'heavy1' },
      { reason: 'thaw', fn: 'heavy2' },
    ]);
    expect(p.usedBytes).toBeLessThanOrEqual(320 * MI);
  });

  it('caps the sum of limits at capacity × overcommit, evicting first what nothing predicts a call for', async () => {
    const p = makePool({}, { capacityBytes: 256 * MI, overcommit: 1 });
    const [f, g, h] = ['f', 'g', 'h'].map((n) => version(n, 128 * MI)) as [
      FunctionVersion,
      FunctionVersion,
      FunctionVersion,
    ];
    // f is called often enough to have a pattern; g once, but after f.
    for (let i = 0; i < 6; i++) {
      await call(p, f);
      await new Promise((r) => setTimeout(r, 30));
    }
    await call(p, g);
    await frozenAtUsage(p, 2);
    expect((await call(p, h)).start).toBe('cold');
    expect(evicted).toEqual([{ reason: 'capacity', fn: 'g' }]);
    expect((await call(p, f)).start).toBe('warm');
  });

  it('answers RESOURCE_EXHAUSTED rather than evict a busy instance', async () => {
    const p = makePool({}, { capacityBytes: 128 * MI, overcommit: 1 });
    const busy = call(p, version('slow', 128 * MI));
    await until('f running', () => p.list().some((i) => i.state === 'running'));
    await expect(call(p, version('g', 128 * MI))).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    await busy;
    expect(evicted).toEqual([]);
  });
});
