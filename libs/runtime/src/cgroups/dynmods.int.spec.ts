import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSpec } from '../spec/defaults.js';
import { NativeSyscalls } from '../sys/ffi.js';
import { testEnv } from '../testing/fixtures.js';
import { detectCgroups } from './detect.js';
import { dynmodsMountPoint, favorDynmods } from './dynmods.js';

const info = detectCgroups();
const V1 = ['memory', 'pids'].every((c) => info.v1Mounts[c]);
if (!V1) console.warn(`[runtime] SKIP favordynmods: no v1 memory and pids hierarchies (${info.mode} host)`);

const mountinfo = () => fs.readFileSync('/proc/self/mountinfo', 'utf8');

let env: ReturnType<typeof testEnv>;
beforeAll(() => {
  env = testEnv({ favorDynmods: true });
});
afterAll(async () => {
  await env.cleanup();
});

describe.skipIf(!V1)('favordynmods for v1 cgroup attaches', () => {
  it('leaves no scratch mount, hierarchy or dir, and containers still land in their v1 cgroups', async () => {
    const outcome = env.rt.dynmods;
    if (outcome?.state === 'unsupported')
      console.warn(`[runtime] favordynmods unsupported here: ${outcome.reason}`);
    expect(['enabled', 'unsupported']).toContain(outcome?.state);
    expect(mountinfo()).not.toContain(`name=floe-dynmods-${process.pid}`);
    expect(mountinfo()).not.toContain(dynmodsMountPoint(env.stateDir));
    expect(fs.existsSync(dynmodsMountPoint(env.stateDir))).toBe(false);

    const id = env.id();
    const s = defaultSpec({ rootfs: env.rootfs, args: ['/bin/sh', '-c', 'sleep 100'] });
    s.linux!.resources = { memory: { limit: 64 << 20 }, pids: { limit: 50 } };
    const c = await env.rt.run(id, s);
    for (const ctrl of ['memory', 'pids']) {
      const procs = fs.readFileSync(`${info.v1Mounts[ctrl]}/${env.parent}/${id}/cgroup.procs`, 'utf8');
      expect(procs.split('\n'), `${ctrl} cgroup.procs`).toContain(String(c.pid));
    }
    expect(fs.readFileSync(`${info.v1Mounts.pids}/${env.parent}/${id}/pids.max`, 'utf8').trim()).toBe('50');
    await env.rt.delete(id);
    expect(fs.existsSync(`${info.v1Mounts.memory}/${env.parent}/${id}`)).toBe(false);
  });

  it('unmounts and removes a scratch mount point a dead process left behind', () => {
    const sys = new NativeSyscalls();
    // A pid that has exited: the child of a finished spawnSync.
    const dead = spawnSync('true').pid!;
    const stale = dynmodsMountPoint(env.stateDir, dead);
    fs.mkdirSync(stale, { recursive: true });
    sys.mount('tmpfs', stale, 'tmpfs', 0, 'size=64k');
    try {
      expect(mountinfo()).toContain(stale);
      favorDynmods(sys, info, env.stateDir);
      expect(mountinfo()).not.toContain(stale);
      expect(fs.existsSync(stale)).toBe(false);
    } finally {
      try {
        sys.umount2(stale, 2);
      } catch {}
      fs.rmSync(stale, { recursive: true, force: true });
    }
  });
});
