import fs from 'node:fs';
import { AlreadyExistsError, InvalidArgumentError, SyscallError } from '@floe/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroups } from './cgroups/detect.js';
import { Runtime } from './runtime.js';
import { defaultSpec } from './spec/defaults.js';
import { NativeSyscalls } from './sys/ffi.js';
import type { Syscalls } from './sys/syscalls.js';
import { fdCount, mountCount, testEnv } from './testing/fixtures.js';

const info = detectCgroups();

let env: ReturnType<typeof testEnv>;
beforeAll(() => {
  env = testEnv();
});
afterAll(async () => {
  await env.cleanup();
});

function cgroupDirs(): number {
  let n = 0;
  for (const root of [...new Set(Object.values(info.v1Mounts)), info.unifiedPath]) {
    if (!root) continue;
    try {
      n += fs
        .readdirSync(`${root}/${env.parent}`, { withFileTypes: true })
        .filter((d) => d.isDirectory()).length;
    } catch {}
  }
  return n;
}

/**
 * Other engineers' processes share this VM, so global counts drift. Count what this suite
 * could leak: netns held by processes in our cgroup parent, and host mounts under our paths.
 */
const netnsCount = () => {
  const seen = new Set<string>();
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (!fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(env.parent)) continue;
      seen.add(fs.readlinkSync(`/proc/${p}/ns/net`));
    } catch {}
  }
  return seen.size;
};
const ourMounts = () =>
  fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(env.rootfs) || l.includes(env.stateDir) || l.includes('floe-test')).length;

describe('container lifecycle', () => {
  it('rejects bad input with a named field and leaves nothing behind', async () => {
    const before = { dirs: cgroupDirs() };
    const bad = async (mut: (c: any) => void, field: string) => {
      const c = defaultSpec({ rootfs: env.rootfs, args: ['/bin/true'] }) as any;
      mut(c);
      const err = await env.rt.run(env.id(), c).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.field).toBe(field);
    };
    await bad((c) => (c.root.path = '/nonexistent-rootfs'), 'root.path');
    await bad((c) => c.linux.namespaces.push({ type: 'bogus' }), 'linux.namespaces[6].type');
    await bad((c) => (c.linux.resources = { memory: { limit: -2 } }), 'linux.resources.memory.limit');
    await bad((c) => (c.linux.cgroupsPath = '../../escape'), 'linux.cgroupsPath');
    await bad((c) => {
      c.linux.namespaces.push({ type: 'user' });
      c.linux.uidMappings = [
        { containerID: 0, hostID: 100000, size: 100 },
        { containerID: 50, hostID: 200000, size: 100 },
      ];
      c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 100 }];
    }, 'linux.uidMappings[1].containerID');
    expect(cgroupDirs()).toBe(before.dirs);
    const runtimeDir = `${env.stateDir}/runtime`;
    expect(fs.existsSync(runtimeDir) ? fs.readdirSync(runtimeDir) : []).toEqual([]);
  });

  it('undoes cgroups and state in reverse when clone3 fails (recording fake Syscalls)', async () => {
    const real = new NativeSyscalls();
    const calls: string[] = [];
    const fake: Syscalls = {
      spawn: () => {
        calls.push('spawn');
        throw new SyscallError('clone3', 11, undefined, 'spawn container');
      },
      reaperStart: () => real.reaperStart(),
      reaperWatch: (fd, t) => real.reaperWatch(fd, t),
      pidfdOpen: (p) => real.pidfdOpen(p),
      pidfdSendSignal: (fd, s) => real.pidfdSendSignal(fd, s),
      pipe: () => real.pipe(),
      mount: (...a) => real.mount(...a),
      umount2: (t, f) => real.umount2(t, f),
      usernsFd: (u, g) => real.usernsFd(u, g),
      mountIdmapped: (...a) => real.mountIdmapped(...a),
      tryLock: (fd, p) => real.tryLock(fd, p),
      mkfifo: (p, m) => {
        calls.push('mkfifo');
        real.mkfifo(p, m);
      },
    };
    const rt = new Runtime({ stateDir: env.stateDir, cgroupParent: env.parent, syscalls: fake });
    const id = env.id();
    const err = await rt
      .create(id, defaultSpec({ rootfs: env.rootfs, args: ['/bin/true'] }), { execFifo: true })
      .catch((e) => e);
    expect(err).toBeInstanceOf(SyscallError);
    expect(err.message).toContain('clone3');
    expect(calls).toEqual(['mkfifo', 'spawn']);
    expect(cgroupDirs()).toBe(0);
    expect(fs.existsSync(`${env.stateDir}/runtime/${id}`)).toBe(false);
    rt.close();
  });

  it('rejects a duplicate id', async () => {
    const id = env.id();
    await env.rt.run(id, defaultSpec({ rootfs: env.rootfs, args: ['/bin/sleep', '10'] }));
    await expect(
      env.rt.run(id, defaultSpec({ rootfs: env.rootfs, args: ['/bin/true'] })),
    ).rejects.toBeInstanceOf(AlreadyExistsError);
    await env.rt.delete(id);
  });

  it('delete is idempotent and works on running, created and unknown containers', async () => {
    const a = env.id();
    const b = env.id();
    await env.rt.run(a, defaultSpec({ rootfs: env.rootfs, args: ['/bin/sleep', '100'] }));
    await env.rt.create(b, defaultSpec({ rootfs: env.rootfs, args: ['/bin/sleep', '100'] }));
    await env.rt.delete(a);
    await env.rt.delete(a);
    await env.rt.delete(b);
    await env.rt.delete('never-existed');
    expect(await env.rt.list()).toEqual([]);
    expect(cgroupDirs()).toBe(0);
  });

  it('persists state atomically and a fresh Runtime lists, loads and deletes a container it did not create', async () => {
    const id = env.id();
    const c = await env.rt.run(id, defaultSpec({ rootfs: env.rootfs, args: ['/bin/sleep', '100'] }));
    const other = new Runtime({ stateDir: env.stateDir, cgroupParent: env.parent });
    const listed = await other.list();
    expect(listed.map((s) => s.id)).toEqual([id]);
    expect(listed[0]).toMatchObject({ id, pid: c.pid, status: 'running' });
    expect(listed[0]!.startTime).toBeGreaterThan(0);
    await c.freeze();
    expect((await other.load(id))?.status).toBe('paused');
    await other.delete(id);
    expect(await c.wait()).toEqual({ reason: 'signaled', signal: 'SIGKILL' });
    expect(await other.list()).toEqual([]);
    expect(cgroupDirs()).toBe(0);
    await env.rt.delete(id);
    other.close();
  });

  it('a persisted pid that was reused is not killed (start time mismatch)', async () => {
    const id = env.id();
    await env.rt.run(id, defaultSpec({ rootfs: env.rootfs, args: ['/bin/sleep', '100'] }));
    const file = `${env.stateDir}/runtime/${id}/state.json`;
    const s = JSON.parse(fs.readFileSync(file, 'utf8'));
    s.pid = process.pid; // pretend the pid now belongs to us
    fs.writeFileSync(file, JSON.stringify(s));
    const other = new Runtime({ stateDir: env.stateDir, cgroupParent: env.parent });
    expect((await other.load(id))?.status).toBe('stopped');
    await other.delete(id); // must not SIGKILL the test process; still kills via the cgroup
    other.close();
    await env.rt.delete(id);
    expect(cgroupDirs()).toBe(0);
  });

  it('500 create/delete cycles leak no mounts, cgroups, fds or netns', async () => {
    const spec = defaultSpec({ rootfs: env.rootfs, args: ['/bin/true'] });
    const warm = env.id();
    await (await env.rt.run(warm, spec)).wait();
    await env.rt.delete(warm);
    const before = {
      mounts: mountCount(),
      ours: ourMounts(),
      fds: fdCount(),
      dirs: cgroupDirs(),
      netns: netnsCount(),
    };
    const t0 = performance.now();
    for (let i = 0; i < 500; i++) {
      const id = `cycle-${i}`;
      const c = await env.rt.run(id, spec);
      await c.wait();
      await env.rt.delete(id);
    }
    const ms = performance.now() - t0;
    console.log(
      `[lifecycle] 500 run+wait+delete cycles: ${ms.toFixed(0)} ms (${(ms / 500).toFixed(2)} ms each)`,
    );
    const after = {
      mounts: mountCount(),
      ours: ourMounts(),
      fds: fdCount(),
      dirs: cgroupDirs(),
      netns: netnsCount(),
    };
    console.log(`[lifecycle] before ${JSON.stringify(before)} after ${JSON.stringify(after)}`);
    expect({ ...after, mounts: 0 }).toEqual({ ...before, mounts: 0 });
    expect(after.netns).toBe(0);
    expect(fs.readdirSync(`${env.stateDir}/runtime`)).toEqual([]);
  });
});
