import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSpec } from '../spec/defaults.js';
import type { OciConfig } from '../spec/types.js';
import { hasV2Controllers, testEnv } from '../testing/fixtures.js';
import { detectCgroups } from './detect.js';

const info = detectCgroups();
const V2_SKIP = 'SKIPPED: this host has no cgroup v2 controllers (hybrid: unified has none enabled)';

let env: ReturnType<typeof testEnv>;
beforeAll(() => {
  env = testEnv();
});
afterAll(async () => {
  await env.cleanup();
});

function spec(script: string, resources: NonNullable<OciConfig['linux']>['resources']): OciConfig {
  const s = defaultSpec({ rootfs: env.rootfs, args: ['/bin/sh', '-c', script] });
  s.linux!.resources = resources;
  return s;
}

const v1 = (ctrl: string, id: string, file: string) =>
  fs.readFileSync(`${info.v1Mounts[ctrl]}/${env.parent}/${id}/${file}`, 'utf8').trim();

describe('cgroups (host mode)', () => {
  it(`detects the host layout (${info.mode})`, () => {
    expect(['v1', 'v2', 'hybrid']).toContain(info.mode);
    if (info.mode === 'hybrid') expect(info.unifiedPath).toBeDefined();
  });

  it.skipIf(info.mode === 'v2')('applies memory limit and soft limit, cpu and pids on v1', async () => {
    const id = env.id();
    const c = await env.rt.run(
      id,
      spec('sleep 100', {
        memory: { limit: 64 << 20, reservation: 32 << 20 },
        cpu: { quota: 20000, period: 100000, shares: 512 },
        pids: { limit: 50 },
      }),
    );
    expect(v1('memory', id, 'memory.limit_in_bytes')).toBe(String(64 << 20));
    expect(v1('memory', id, 'memory.soft_limit_in_bytes')).toBe(String(32 << 20));
    expect(v1('cpu', id, 'cpu.cfs_quota_us')).toBe('20000');
    expect(v1('cpu', id, 'cpu.shares')).toBe('512');
    expect(v1('pids', id, 'pids.max')).toBe('50');
    expect(v1('memory', id, 'cgroup.procs').split('\n')).toContain(String(c.pid));
    await c.setMemoryLimit(48 << 20);
    expect(v1('memory', id, 'memory.limit_in_bytes')).toBe(String(48 << 20));
    await c.setMemoryLimit('max');
    expect(Number(v1('memory', id, 'memory.limit_in_bytes'))).toBeGreaterThan(2 ** 40);
    const st = await c.stats();
    expect(st.memoryBytes).toBeGreaterThan(0);
    expect(st.memoryPeakBytes).toBeGreaterThanOrEqual(st.memoryBytes);
    await env.rt.delete(id);
    expect(fs.existsSync(`${info.v1Mounts.memory}/${env.parent}/${id}`)).toBe(false);
    expect(fs.existsSync(`${info.unifiedPath}/${env.parent}/${id}`)).toBe(false);
  });

  it('reports OOMKilled when the kernel kills a process over its memory limit', async () => {
    const c = await env.rt.run(
      env.id(),
      spec('dd if=/dev/zero of=/dev/null bs=64M count=1', { memory: { limit: 16 << 20 } }),
    );
    expect(await c.wait()).toEqual({ reason: 'OOMKilled' });
    expect((await c.stats()).oomKills).toBeGreaterThan(0);
  });

  it('throttles cpu to its quota, visible in stats', async () => {
    const c = await env.rt.run(
      env.id(),
      spec('while :; do :; done', { cpu: { quota: 10000, period: 100000 } }),
    );
    await new Promise((r) => setTimeout(r, 400));
    const st = await c.stats();
    await c.kill('SIGKILL');
    await c.wait();
    expect(st.nrThrottled).toBeGreaterThan(0);
    expect(st.throttledUsec).toBeGreaterThan(0);
    expect(st.cpuUsageUsec).toBeGreaterThan(0);
    // 10% of one cpu for 400 ms is ~40 ms; allow slack for the first period.
    expect(st.cpuUsageUsec).toBeLessThan(150_000);
  });

  it('contains a fork bomb with pids.max', async () => {
    // busybox sh gives up once fork fails, so judge by the kernel's counters after the exit.
    const c = await env.rt.run(env.id(), spec('while :; do sleep 30 & done', { pids: { limit: 20 } }));
    await c.wait();
    expect(Number(v1('pids', c.id, 'pids.peak'))).toBe(20);
    expect(Number(v1('pids', c.id, 'pids.events').split(' ')[1])).toBeGreaterThan(0);
  });

  it.skipIf(!info.unifiedPath)(
    'reports a cgroup2 dir populated while its process lives, and not once deleted',
    async () => {
      const id = env.id();
      const c = await env.rt.run(id, spec('sleep 100', {}));
      expect(c.cgroup.unified?.populated()).toBe(true);
      await env.rt.delete(id);
      expect(c.cgroup.unified?.populated()).toBe(false);
      expect(fs.existsSync(`${info.unifiedPath}/${env.parent}/${id}`)).toBe(false);
    },
  );

  it.skipIf(!hasV2Controllers())(
    `applies memory.max/low, cpu.max, pids.max on pure v2 (${V2_SKIP})`,
    async () => {
      const id = env.id();
      await env.rt.run(
        id,
        spec('sleep 100', {
          memory: { limit: 64 << 20, reservation: 1 << 20 },
          cpu: { quota: 20000 },
          pids: { limit: 9 },
        }),
      );
      const d = `${info.unifiedPath}/${env.parent}/${id}`;
      expect(fs.readFileSync(`${d}/memory.max`, 'utf8').trim()).toBe(String(64 << 20));
      expect(fs.readFileSync(`${d}/cpu.max`, 'utf8').trim()).toBe('20000 100000');
      expect(fs.readFileSync(`${d}/pids.max`, 'utf8').trim()).toBe('9');
    },
  );
});

if (!hasV2Controllers()) console.warn(`[runtime] cgroup v2 resource tests ${V2_SKIP}`);
