import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FunctionVersion } from '@floe/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelServer } from './channel-server.js';
import { Pool, type PoolOptions } from './pool.js';
import { ProcessLauncher } from './testing/process-launcher.js';

const MI = 1024 * 1024;
const CODE = {
  echo: {
    'index.js': 'module.exports = async (e) => ({ statusCode: 200, body: "echo:" + e.rawBody.toString() });',
  },
  slow: {
    'index.js':
      'module.exports = async () => { await new Promise((r) => setTimeout(r, 150)); return "slow"; };',
  },
  hang: { 'index.js': 'module.exports = () => new Promise(() => {});' },
  crash: { 'index.js': 'module.exports = async () => process.exit(3);' },
  a: { 'index.js': 'module.exports = async () => "a";' },
  b: { 'index.js': 'module.exports = async () => "b";' },
  c: { 'index.js': 'module.exports = async () => "c";' },
  big: { 'index.js': 'module.exports = async () => "x".repeat(200_000);' },
};

function version(name: string, over: Partial<FunctionVersion> = {}): FunctionVersion {
  return {
    name,
    namespace: 'ns',
    version: 1,
    createdAt: '',
    deployment: { service: name },
    runtime: 'node',
    image: 'floe/node:latest',
    handler: 'index.js',
    memoryBytes: 64 * MI,
    timeoutMs: 5000,
    maxConcurrency: 1,
    minScale: 0,
    maxScale: 5,
    env: {},
    secrets: [],
    ...over,
  };
}

const req = (body = '') => ({
  callId: 'c',
  method: 'POST',
  path: '/',
  query: '',
  headers: {},
  body: Buffer.from(body),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Pool logic on plain processes (testing/process-launcher.ts): no cgroup is involved here. The
// same behaviours on real containers are in container-launcher.int.spec.ts.
describe(Pool.name, () => {
  let dir: string;
  let server: ChannelServer;
  let launcher: ProcessLauncher;
  let pool: Pool;

  function makePool(over: Partial<PoolOptions> = {}) {
    pool = new Pool(launcher, {
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
  const call = (v: FunctionVersion, body = '') => pool.invoke(v, req(body), Buffer.from(body));

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'floe-pool-'));
    server = new ChannelServer(path.join(dir, 'agent.sock'));
    await server.listen();
    launcher = new ProcessLauncher(server, dir, CODE);
  });

  afterEach(async () => {
    await pool?.close();
    for (const c of launcher.children.values()) c.kill('SIGKILL');
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts cold, then serves warm; after the pause grace it freezes and a call thaws it', async () => {
    makePool();
    const v = version('echo');
    expect((await call(v, 'x')).start).toBe('cold');
    const r = await call(v, 'y');
    expect(r.start).toBe('warm');
    expect(r.body.toString()).toBe('echo:y');
    await expect.poll(() => pool.list()[0]?.state, { timeout: 20_000 }).toBe('paused');
    expect(launcher.counts.freeze).toBe(1);
    expect((await call(v, 'z')).start).toBe('warm');
    expect(launcher.counts.thaw).toBe(1);
    expect(launcher.counts.launch).toBe(1);
  });

  it('ensure starts the instances it lacks parallelStarts at a time, not all at once', async () => {
    makePool({ parallelStarts: 2 });
    const launch = launcher.launch.bind(launcher);
    let inFlight = 0;
    let most = 0;
    launcher.launch = async (opts) => {
      most = Math.max(most, ++inFlight);
      try {
        return await launch(opts);
      } finally {
        inFlight--;
      }
    };
    expect(await pool.ensure(version('echo', { maxScale: 5 }), 5)).toBe(5);
    expect(launcher.counts.launch).toBe(5);
    expect(most).toBe(2);
  });

  it('carries bodies larger than one socket read, and concurrent calls, intact both ways', async () => {
    makePool();
    const v = version('echo', { maxConcurrency: 4 });
    const big = `${'x'.repeat(300_000)}end`;
    expect((await call(v, big)).body.toString()).toBe(`echo:${big}`);
    const bodies = ['a', 'b'.repeat(70_000), 'c', 'd'.repeat(1000)];
    const got = await Promise.all(bodies.map((b) => call(v, b)));
    expect(got.map((r) => r.body.toString())).toEqual(bodies.map((b) => `echo:${b}`));
  });

  it('refuses a request body over the limit (413), and replaces an instance whose answer is over it', async () => {
    const limited = new ChannelServer(path.join(dir, 'limited.sock'), 1024);
    await limited.listen();
    const l = new ProcessLauncher(limited, path.join(dir, 'limited'), CODE);
    const p = new Pool(l, {
      capacityBytes: 1024 * MI,
      pauseGraceMs: 20,
      keepAliveMs: 60_000,
      reclaimAfterMs: 60_000,
      stemcellBytes: 64 * MI,
      stemcells: {},
      maxBodyBytes: 1024,
    });
    try {
      const big = 'y'.repeat(2000);
      await expect(p.invoke(version('echo'), req(big), Buffer.from(big))).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(
          /request body of 2000 bytes is over .* limit of 1024 bytes \(FLOE_MAX_BODY_BYTES\)/,
        ),
        details: { field: 'body', limitBytes: 1024, httpStatus: 413 },
      });
      expect(l.counts.launch).toBe(0); // refused before any instance was touched
      expect((await p.invoke(version('echo'), req('ok'), Buffer.from('ok'))).body.toString()).toBe('echo:ok');

      const answer = () => p.invoke(version('big'), req(), Buffer.alloc(0));
      await expect(answer()).rejects.toMatchObject({
        code: 'FUNCTION_FAILED',
        message: expect.stringMatching(
          /response of \d+ bytes is over the invoke channel's limit of 1024 bytes/,
        ),
      });
      expect(p.list().filter((i) => i.version?.name === 'big')).toEqual([]); // replaced, not reused
      await expect(answer()).rejects.toMatchObject({ code: 'FUNCTION_FAILED' });
      expect(l.counts.launch).toBe(3); // echo, then a fresh big instance per call
    } finally {
      await p.close();
      for (const c of l.children.values()) c.kill('SIGKILL');
      await limited.close();
    }
  });

  it('asks the backend to reclaim only an instance paused for reclaimAfterMs in one go, and to restore it before the thaw', async () => {
    makePool({ pauseGraceMs: 5, reclaimAfterMs: 150 });
    const v = version('echo');
    await call(v);
    // Paused and thawed every ~60 ms: no pause lasts 150 ms, so nothing is reclaimed, even
    // though the first pause began long before the last one ended.
    for (let i = 0; i < 5; i++) {
      await sleep(60);
      await call(v);
    }
    expect(launcher.counts.thaw).toBeGreaterThan(0);
    expect(launcher.counts.reclaim).toBe(0);
    await expect.poll(() => launcher.counts.reclaim, { timeout: 20_000 }).toBe(1);
    await call(v);
    expect(launcher.counts.restore).toBe(1);
  });

  it('specializes a frozen stemcell for a new function (prewarm) and refills the stemcell', async () => {
    makePool({ stemcells: { node: 1 } });
    await pool.refill();
    expect(pool.list().map((i) => i.state)).toEqual(['stemcell']);
    const r = await call(version('echo'), 'p');
    expect(r.start).toBe('prewarm');
    expect(r.body.toString()).toBe('echo:p');
    await expect.poll(() => pool.summary().stemcells.node, { timeout: 20_000 }).toBe(1);
  });

  it('queues calls past the instance cap instead of failing them, and answers 429 past the deadline', async () => {
    makePool();
    const v = version('slow', { maxScale: 1 });
    const [a, b] = await Promise.all([call(v), call(v)]);
    expect([a.body.toString(), b.body.toString()]).toEqual(['slow', 'slow']);
    expect(launcher.counts.launch).toBe(1);
    const first = call(v);
    await sleep(10);
    await expect(
      pool.invoke(v, { ...req(), deadline: Date.now() + 30 }, Buffer.alloc(0)),
    ).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    await first;
  });

  it('kills and replaces an instance that passes its timeout', async () => {
    makePool();
    const v = version('hang', { timeoutMs: 200 });
    await expect(call(v)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(pool.list()).toHaveLength(0);
    expect(launcher.counts.destroy).toBe(1);
  });

  it('reports a crash with its exit code and removes the instance', async () => {
    makePool();
    await expect(call(version('crash'))).rejects.toMatchObject({
      code: 'FUNCTION_FAILED',
      message: expect.stringMatching(/exited with code 3/),
    });
    expect(pool.list()).toHaveLength(0);
  });

  it('evicts the least recently used paused instance when reservations fill the capacity', async () => {
    makePool({ capacityBytes: 128 * MI });
    await call(version('a'));
    await sleep(5);
    await call(version('b'));
    await expect
      .poll(() => pool.list().map((i) => i.state), { timeout: 20_000 })
      .toEqual(['paused', 'paused']);
    await call(version('c'));
    expect(
      pool
        .list()
        .map((i) => i.version?.name)
        .sort(),
    ).toEqual(['b', 'c']);
  });

  it('destroys paused instances after their keep-alive', async () => {
    makePool({ keepAliveMs: 50 });
    await call(version('a'));
    await expect.poll(() => pool.list().length, { timeout: 20_000 }).toBe(0);
  });

  it('with every instance busy, starts one more in the background once a wait outlasts a start, and serves the call from whichever frees first', async () => {
    makePool({ scaleOutAfterMs: 20 });
    const v = version('slow', { maxScale: 3 });
    expect((await call(v)).start).toBe('cold');
    const [a, b] = await Promise.all([call(v), call(v)]);
    expect([a.start, b.start]).toEqual(['warm', 'warm']);
    // The second call queued instead of starting a container of its own; it waited for the
    // 150 ms call longer than 20 ms, so one more instance was started all the same.
    await expect.poll(() => launcher.counts.launch).toBe(2);
    await expect.poll(() => pool.list().length).toBe(2);
  });

  it('keeps starting instances, one after another, while calls of a burst still outwait a start', async () => {
    makePool({ scaleOutAfterMs: 20 });
    const v = version('slow', { maxScale: 3 });
    expect((await call(v)).start).toBe('cold');
    // Three 150 ms calls on one instance: starts are capped at one in flight, so the third
    // call's wait asked while the first start ran; that start's end starts the next.
    const replies = await Promise.all([call(v), call(v), call(v)]);
    expect(replies.map((r) => r.body.toString())).toEqual(['slow', 'slow', 'slow']);
    await expect.poll(() => launcher.counts.launch).toBe(3);
    // At max scale: no fourth.
    await sleep(100);
    expect(launcher.counts.launch).toBe(3);
  });

  it('with every instance busy on short calls, queues them on it rather than start containers', async () => {
    // A wait shorter than scaleOutAfterMs starts nothing: 8 echo calls at once take their
    // turns on the one instance.
    makePool({ scaleOutAfterMs: 5000 });
    const v = version('echo', { maxScale: 8 });
    expect((await call(v, 'x')).start).toBe('cold');
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => call(v, `c${i}`)));
    expect(replies.map((r) => r.body.toString())).toEqual(Array.from({ length: 8 }, (_, i) => `echo:c${i}`));
    expect(launcher.counts.launch).toBe(1);
    // The autoscaler's demand past the floor is deferred likewise: no call waits here.
    expect(await pool.ensure(v, 4, 1)).toBe(1);
    expect(launcher.counts.launch).toBe(1);
  });

  it('meets demand past the floor (ensure) once a call has waited longer than a start', async () => {
    makePool({ scaleOutAfterMs: 20 });
    // At max scale 1 the second call waits without starting anything itself...
    const v = version('slow', { maxScale: 1 });
    expect((await call(v)).start).toBe('cold');
    const calls = [call(v), call(v)];
    await sleep(60);
    expect(launcher.counts.launch).toBe(1);
    // ...so the one more instance here comes from the autoscaler's ensure, past the floor of 1.
    expect(await pool.ensure({ ...v, maxScale: 3 }, 2, 1)).toBe(2);
    expect(launcher.counts.launch).toBe(2);
    await Promise.all(calls);
  });

  it('pre-warms instances with ensure()', async () => {
    makePool();
    expect(await pool.ensure(version('a'), 2)).toBe(2);
    await expect
      .poll(() => pool.list().map((i) => i.state), { timeout: 20_000 })
      .toEqual(['paused', 'paused']);
    expect((await call(version('a'))).start).toBe('warm');
  });
});
