// The agent's engine in this process (agent-core's Agent, a real container of a node
// function), as floor.mjs drives the runtime lib in this process: thaw, call over the invoke
// channel, response, freeze, with no RPC hop in front. The floor's loop and this one then
// differ only in what the agent adds and in the node runtime answering instead of a C echo.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { root } from '../scripts/lib/setup.mjs';
import { onInterrupt, removeCgroup } from './stats.mjs';

const MiB = 1024 * 1024;

/**
 * Opens an Agent with a pause grace of 0 on the platform's Redis (for the code archive),
 * with its own state, layer dir and cgroup parent. It never announces itself, so the
 * scheduler doesn't place calls on it.
 */
export async function openEngine({ work, redisUrl, version }) {
  const { Agent, SnapshotRootfs } = await import(path.join(root, 'libs/agent-core/dist/index.js'));
  const { HostMountsFfi, Runtime } = await import(path.join(root, 'libs/runtime/dist/index.js'));
  const stateDir = path.join(work, 'engine');
  mkdirSync(path.join(stateDir, 'agent'), { recursive: true });
  const cgroupParent = `floe-bench-engine-${process.pid}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const runtime = new Runtime({ stateDir: path.join(stateDir, 'agent'), cgroupParent });
  let agent;
  const close = async () => {
    await agent?.stop().catch(() => {});
    runtime.close();
    removeCgroup(cgroupParent);
    redis.disconnect();
  };
  const unregister = onInterrupt(close);
  try {
    agent = await Agent.start(
      {
        id: `bench-engine-${process.pid}`,
        rpc: '-',
        http: '-',
        stateDir,
        labels: {},
        memoryBytes: 2048 * MiB,
        cpus: 2,
        pauseGraceMs: 0,
        keepAliveMs: 600_000,
        reclaimAfterMs: 600_000,
        stemcellBytes: 256 * MiB,
        writableBytes: 64 * MiB,
        logMaxBytes: 8 * MiB,
        heartbeatMs: 1000,
        heartbeatTtlMs: 3000,
        stemcells: {},
      },
      {
        redis,
        runtime,
        rootfs: await SnapshotRootfs.open(stateDir),
        mounts: new HostMountsFfi(),
        secrets: async () => ({}),
      },
    );
  } catch (e) {
    unregister();
    await close();
    throw e;
  }
  let seq = 0;
  const request = () => ({
    callId: `engine-${seq++}`,
    function: version.name,
    namespace: version.namespace,
    method: 'POST',
    path: '/',
    query: '',
    headers: {},
    body: '',
  });
  const turn = () => new Promise((r) => setImmediate(r));
  return {
    /**
     * One call, then the freeze the agent starts once the reply is out (setImmediate): done
     * within that turn unless it spins past 5 ms and yields, so wait for `paused` (bounded).
     */
    async cycle() {
      const t0 = performance.now();
      const res = await agent.invoke(request(), version);
      const inst = agent.pool.list().find((i) => i.id === res.instanceId);
      for (let i = 0; i < 10_000 && inst?.state !== 'paused'; i++) await turn();
      const t1 = performance.now();
      return { total: t1 - t0, start: res.start, frozen: inst?.state === 'paused' };
    },
    thaws: () => agent.metrics.thawSeconds.count,
    async close() {
      unregister();
      await close();
    },
  };
}
