import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerImpl } from '../container.js';
import { defaultSpec } from '../spec/defaults.js';
import type { OciConfig } from '../spec/types.js';
import { testEnv } from '../testing/fixtures.js';
import { detectCgroups } from './detect.js';

const info = detectCgroups();
/** Every hierarchy detection found: where a container's cgroup could be left behind. */
const roots = [
  ...new Set([...Object.values(info.v1Mounts), ...(info.unifiedPath ? [info.unifiedPath] : [])]),
];
const V1_LIMITS = ['memory', 'cpu', 'pids'].every((c) => info.v1Mounts[c]);
const V2_LIMITS = ['memory', 'cpu', 'pids'].every((c) => info.v2Controllers.includes(c));
/** Where pids.* files live for this host's layout: v1's pids hierarchy, else cgroup2 with pids. */
const pidsRoot = info.v1Mounts.pids ?? (info.v2Controllers.includes('pids') ? info.unifiedPath : undefined);

function skipReason(what: string, why: string | undefined): boolean {
  if (why) console.warn(`[runtime] SKIP ${what}: ${why}`);
  return !!why;
}
const SKIP_V1 = skipReason(
  'v1 memory/cpu/pids limits',
  V1_LIMITS
    ? undefined
    : `no v1 hierarchy for ${['memory', 'cpu', 'pids'].filter((c) => !info.v1Mounts[c]).join(', ')} (${info.mode} host)`,
);
const SKIP_V2 = skipReason(
  'cgroup v2 memory.max/cpu.max/pids.max',
  V2_LIMITS
    ? undefined
    : `the unified hierarchy${info.unifiedPath ? ` at ${info.unifiedPath}` : ''} offers [${info.v2Controllers.join(' ')}], not memory, cpu and pids: ${
        info.mode === 'hybrid'
          ? 'they are bound to v1 hierarchies, a controller serves one hierarchy at a time, and a fresh cgroup2 mount (private mount or cgroup namespace) is the same hierarchy (libs/runtime/README.md, "Tests and cgroup layouts")'
          : 'no cgroup2 mount'
      }`,
);
const SKIP_UNIFIED = skipReason(
  'cgroup2 populated',
  info.unifiedPath ? undefined : 'no cgroup2 mount (pure v1 host)',
);
const SKIP_PIDS = skipReason(
  'fork bomb under pids.max',
  pidsRoot ? undefined : 'no pids controller in any hierarchy',
);

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
/** Dirs of container `id` left in any hierarchy. */
const leftovers = (parent: string, id: string) =>
  roots.map((r) => `${r}/${parent}/${id}`).filter((d) => fs.existsSync(d));

describe('cgroups (host mode)', () => {
  it(`detects this host's layout (${info.mode}): every hierarchy /proc/cgroups lists, and the unified mount`, () => {
    // The kernel's own list: controller, hierarchy id (0 = cgroup2 or unmounted), enabled.
    const kernel = fs
      .readFileSync('/proc/cgroups', 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/\s+/))
      .filter(([, hierarchy, , enabled]) => hierarchy !== '0' && enabled === '1')
      .map(([name]) => name!);
    for (const c of kernel) {
      expect(info.v1Mounts[c], `v1 mount of ${c}`).toBeDefined();
      expect(fs.existsSync(`${info.v1Mounts[c]}/cgroup.procs`)).toBe(true);
    }
    expect(Object.keys(info.v1Mounts).sort()).toEqual([...kernel].sort());
    if (info.unifiedPath) {
      expect(
        fs.readFileSync(`${info.unifiedPath}/cgroup.controllers`, 'utf8').split(/\s+/).filter(Boolean),
      ).toEqual(info.v2Controllers);
    }
    expect(info.mode).toBe(info.unifiedPath ? (kernel.length ? 'hybrid' : 'v2') : 'v1');
  });

  it.skipIf(SKIP_V1)('applies memory limit and soft limit, cpu and pids on v1 hierarchies', async () => {
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
    expect(leftovers(env.parent, id).length).toBeGreaterThan(0);
    await env.rt.delete(id);
    expect(leftovers(env.parent, id)).toEqual([]);
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
    const id = env.id();
    const c = await env.rt.run(id, spec('while :; do :; done', { cpu: { quota: 10000, period: 100000 } }));
    await expect.poll(async () => (await c.stats()).nrThrottled, { timeout: 20_000 }).toBeGreaterThan(2);
    const st = await c.stats();
    // The kernel's count of enforcement periods, read after the usage: no clock in the test.
    const cpuDir = info.v1Mounts.cpu ?? info.unifiedPath;
    const periods = Number(
      /nr_periods (\d+)/.exec(fs.readFileSync(`${cpuDir}/${env.parent}/${id}/cpu.stat`, 'utf8'))?.[1],
    );
    await c.kill('SIGKILL');
    await c.wait();
    expect(st.throttledUsec).toBeGreaterThan(0);
    expect(st.cpuUsageUsec).toBeGreaterThan(0);
    expect(periods).toBeGreaterThanOrEqual(st.nrThrottled);
    // At most the quota per period (one more for the period in progress), plus a scheduler slice.
    expect(st.cpuUsageUsec).toBeLessThanOrEqual((periods + 1) * 10_000 + 5_000);
  });

  it.skipIf(SKIP_PIDS)(
    `contains a fork bomb with pids.max (read in ${pidsRoot ?? 'no'} hierarchy)`,
    async () => {
      // busybox sh gives up once fork fails, so judge by the kernel's counters after the exit.
      const c = await env.rt.run(env.id(), spec('while :; do sleep 30 & done', { pids: { limit: 20 } }));
      await c.wait();
      const pids = (file: string) =>
        fs.readFileSync(`${pidsRoot}/${env.parent}/${c.id}/${file}`, 'utf8').trim();
      expect(Number(pids('pids.peak'))).toBe(20);
      // `max N`: forks refused at the limit.
      expect(Number(pids('pids.events').split(/\s+/)[1])).toBeGreaterThan(0);
    },
  );

  it.skipIf(SKIP_UNIFIED)(
    'reports a cgroup2 dir populated while its process lives, and not once deleted',
    async () => {
      const id = env.id();
      const c = (await env.rt.run(id, spec('sleep 100', {}))) as ContainerImpl;
      expect(c.cgroup.unified?.populated()).toBe(true);
      await env.rt.delete(id);
      expect(c.cgroup.unified?.populated()).toBe(false);
      expect(fs.existsSync(`${info.unifiedPath}/${env.parent}/${id}`)).toBe(false);
    },
  );
});

describe('cgroup2 in a private mount namespace', () => {
  it.skipIf(SKIP_UNIFIED)(
    "is the same hierarchy: a fresh cgroup2 mount lists the unified mount's controllers (why v2 limits need free controllers)",
    () => {
      const at = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-cg2-'));
      try {
        // The mount lives and dies with the unshare'd shell: nothing to undo on the host.
        const seen = execFileSync(
          'unshare',
          ['-m', 'sh', '-c', `mount -t cgroup2 none ${at} && cat ${at}/cgroup.controllers`],
          { encoding: 'utf8' },
        );
        expect(seen.split(/\s+/).filter(Boolean)).toEqual(info.v2Controllers);
        expect(fs.readdirSync(at)).toEqual([]);
      } finally {
        fs.rmdirSync(at);
      }
    },
  );
});

describe.skipIf(SKIP_V2)('cgroups v2 resource limits (driver v2)', () => {
  let v2: ReturnType<typeof testEnv>;
  beforeAll(() => {
    v2 = testEnv({ cgroupDriver: 'v2' });
  });
  afterAll(async () => {
    await v2?.cleanup();
  });

  it('applies memory.max/low, cpu.max, pids.max and enforces memory.max', async () => {
    const id = v2.id();
    const s = defaultSpec({ rootfs: v2.rootfs, args: ['/bin/sleep', '100'] });
    s.linux!.resources = {
      memory: { limit: 64 << 20, reservation: 1 << 20 },
      cpu: { quota: 20000 },
      pids: { limit: 9 },
    };
    await v2.rt.run(id, s);
    const d = `${info.unifiedPath}/${v2.parent}/${id}`;
    expect(fs.readFileSync(`${d}/memory.max`, 'utf8').trim()).toBe(String(64 << 20));
    expect(fs.readFileSync(`${d}/memory.low`, 'utf8').trim()).toBe(String(1 << 20));
    expect(fs.readFileSync(`${d}/cpu.max`, 'utf8').trim()).toBe('20000 100000');
    expect(fs.readFileSync(`${d}/pids.max`, 'utf8').trim()).toBe('9');
    await v2.rt.delete(id);
    expect(fs.existsSync(d)).toBe(false);

    const oom = defaultSpec({
      rootfs: v2.rootfs,
      args: ['/bin/sh', '-c', 'dd if=/dev/zero of=/dev/null bs=64M count=1'],
    });
    oom.linux!.resources = { memory: { limit: 16 << 20 } };
    const c = await v2.rt.run(v2.id(), oom);
    expect(await c.wait()).toEqual({ reason: 'OOMKilled' });
  });
});
