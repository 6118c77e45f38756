import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CgroupDriver, FreezerChoice } from './cgroups/container-cgroup.js';
import { detectCgroups } from './cgroups/detect.js';
import type { ContainerImpl } from './container.js';
import { defaultSpec } from './spec/defaults.js';
import { testEnv } from './testing/fixtures.js';

const info = detectCgroups();

/** One conformance suite, run against every freezer/kill backend this host can offer. */
const backends: { name: string; driver: CgroupDriver; freezer: FreezerChoice; available: boolean }[] = [
  {
    name: 'v1 (freezer.state, kill = freeze+SIGKILL+thaw)',
    driver: 'v1',
    freezer: 'v1',
    available: !!info.v1Mounts.freezer,
  },
  {
    name: 'hybrid + v2 freezer (cgroup.freeze, cgroup.kill)',
    driver: 'hybrid',
    freezer: 'v2',
    available: !!info.unifiedPath && info.mode !== 'v1',
  },
  {
    name: 'hybrid + v1 freezer (cgroup.kill)',
    driver: 'hybrid',
    freezer: 'v1',
    available: info.mode === 'hybrid',
  },
  { name: 'pure v2', driver: 'v2', freezer: 'v2', available: info.mode === 'v2' },
];

for (const b of backends) {
  if (!b.available)
    console.warn(`[runtime] SKIP freezer conformance: ${b.name}: this host's cgroups are ${info.mode}`);
  describe.skipIf(!b.available)(
    `freezer conformance: ${b.name}${b.available ? '' : ` (not available on this ${info.mode} host)`}`,
    () => {
      let env: ReturnType<typeof testEnv>;
      beforeAll(() => {
        env = testEnv({ cgroupDriver: b.driver, freezer: b.freezer });
      });
      afterAll(async () => {
        await env.cleanup();
      });

      const busy = () => defaultSpec({ rootfs: env.rootfs, args: ['/bin/sh', '-c', 'while :; do :; done'] });

      it('freeze stops all progress and thaw resumes it', async () => {
        const c = await env.rt.run(env.id(), busy());
        await new Promise((r) => setTimeout(r, 30));
        await c.freeze();
        expect(c.status).toBe('paused');
        const a = (await c.stats()).cpuUsageUsec;
        await new Promise((r) => setTimeout(r, 60));
        const b2 = (await c.stats()).cpuUsageUsec;
        // CPU consumed while frozen (not wall time): none, give or take the accounting tick.
        expect(b2 - a).toBeLessThan(2000);
        await c.thaw();
        expect(c.status).toBe('running');
        // Progress again: waited for, however busy the machine is.
        await expect
          .poll(async () => (await c.stats()).cpuUsageUsec - b2, { timeout: 20_000 })
          .toBeGreaterThan(10_000);
        await env.rt.delete(c.id);
      });

      it('freezes and thaws 50 times back to back, the kernel reporting each state, the process surviving', async () => {
        const c = (await env.rt.run(
          env.id(),
          defaultSpec({ rootfs: env.rootfs, args: ['/bin/sleep', '100'] }),
        )) as ContainerImpl;
        // How fast is the bench's business (npm run bench, frozen loop); this holds that every
        // freeze resolves only once the kernel says frozen, and every thaw undoes it.
        for (let i = 0; i < 50; i++) {
          await c.freeze();
          expect(c.cgroup.freezer.isFrozen()).toBe(true);
          expect(c.status).toBe('paused');
          await c.thaw();
          expect(c.cgroup.freezer.isFrozen()).toBe(false);
          expect(c.status).toBe('running');
        }
        expect(c.cgroup.pids()).toContain(c.pid);
        expect(c.exit).toBeUndefined();
        await env.rt.delete(c.id);
      });

      it('killAll kills every process, also while frozen', async () => {
        const c = await env.rt.run(
          env.id(),
          defaultSpec({ rootfs: env.rootfs, args: ['/bin/sh', '-c', 'sleep 100 & sleep 100 & wait'] }),
        );
        await c.freeze();
        await c.killAll();
        const exit = await c.wait();
        expect(exit).toEqual({ reason: 'signaled', signal: 'SIGKILL' });
        expect(c.status).toBe('stopped');
        await env.rt.delete(c.id);
      });

      it('delete of a frozen container removes everything', async () => {
        const c = await env.rt.run(env.id(), busy());
        await c.freeze();
        await env.rt.delete(c.id);
        expect(c.status).toBe('deleted');
      });
    },
  );
}
