import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPABILITIES, capMask, DEFAULT_CAPS } from './caps.js';
import { MS } from './spawn/mount-options.js';
import { defaultSpec } from './spec/defaults.js';
import type { OciConfig } from './spec/types.js';
import { NativeSyscalls } from './sys/ffi.js';
import { capture, testEnv } from './testing/fixtures.js';

let env: ReturnType<typeof testEnv>;
beforeAll(() => {
  env = testEnv();
});
afterAll(async () => {
  await env.cleanup();
});

async function sh(script: string, tweak?: (c: OciConfig) => void) {
  const spec = defaultSpec({ rootfs: env.rootfs, args: ['/bin/sh', '-c', script] });
  tweak?.(spec);
  const out = capture();
  const c = await env.rt.run(env.id(), spec, { stdio: { stdout: out.fd, stderr: out.fd } });
  out.closeWrite();
  const [text, exit] = await Promise.all([out.text(), c.wait()]);
  await env.rt.delete(c.id);
  return { text, exit, c };
}

const status = (text: string, key: string) =>
  text
    .split('\n')
    .find((l) => l.startsWith(`${key}:`))
    ?.split(/\s+/)[1];

describe('security defaults', () => {
  it("has Docker's capability set, no_new_privs, a seccomp filter and oom_score_adj", async () => {
    const { text } = await sh('cat /proc/self/status; echo adj=$(cat /proc/self/oom_score_adj)');
    const eff = BigInt(`0x${status(text, 'CapEff')}`);
    expect(eff).toBe(capMask(DEFAULT_CAPS));
    expect(BigInt(`0x${status(text, 'CapBnd')}`)).toBe(capMask(DEFAULT_CAPS));
    expect(eff & (1n << BigInt(CAPABILITIES.CAP_SYS_ADMIN!))).toBe(0n);
    expect(eff & (1n << BigInt(CAPABILITIES.CAP_NET_ADMIN!))).toBe(0n);
    expect(status(text, 'NoNewPrivs')).toBe('1');
    expect(status(text, 'Seccomp')).toBe('2');
    expect(text).toContain('adj=500');
  });

  it('the default seccomp filter denies mount with EPERM even with CAP_SYS_ADMIN', async () => {
    // Everything the host itself holds (this VM's bounding set lacks CAP_SYS_RESOURCE).
    const hostBnd = BigInt(`0x${status(fs.readFileSync('/proc/self/status', 'utf8'), 'CapBnd')}`);
    const all = Object.keys(CAPABILITIES).filter((n) => hostBnd & (1n << BigInt(CAPABILITIES[n]!)));
    const withAdmin = (c: OciConfig) => {
      c.process.capabilities = { bounding: all, effective: all, permitted: all };
    };
    const denied = await sh('mount -t tmpfs t /tmp && echo mounted || echo denied', withAdmin);
    expect(denied.text).toContain('denied');
    const allowed = await sh('mount -t tmpfs t /tmp && echo mounted || echo denied', (c) => {
      withAdmin(c);
      c.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
    });
    expect(allowed.text).toContain('mounted');
  });

  it('runs as the configured uid/gid with additional groups', async () => {
    const { text } = await sh('id', (c) => {
      c.process.user = { uid: 1000, gid: 1000, additionalGids: [10] };
    });
    expect(text.trim()).toMatch(/^uid=1000 gid=1000 groups=(1000,)?10$/);
  });

  it('user namespace: root inside maps to an unprivileged host range and cannot write host root files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-userns-'));
    fs.writeFileSync(path.join(dir, 'owned-by-root'), 'host\n', { mode: 0o644 });
    fs.chmodSync(dir, 0o755);
    // Root in the userns cannot create mount points in a host-root-owned rootfs.
    fs.mkdirSync(path.join(env.rootfs, 'data'), { recursive: true });
    try {
      const { text, exit, c } = await sh(
        'id -u; cat /proc/self/uid_map; echo pwn >> /data/owned-by-root && echo wrote || echo refused; cat /proc/self/status | grep ^Uid',
        (cfg) => {
          cfg.linux!.namespaces!.push({ type: 'user' });
          cfg.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
          cfg.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
          cfg.mounts!.push({ destination: '/data', type: 'bind', source: dir, options: ['rbind'] });
        },
      );
      expect(exit).toEqual({ reason: 'exited', code: 0 });
      const lines = text.trim().split('\n');
      expect(lines[0]).toBe('0');
      expect(lines[1]!.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
      expect(text).toContain('refused');
      expect(fs.readFileSync(path.join(dir, 'owned-by-root'), 'utf8')).toBe('host\n');
      expect(c.pid).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('user namespace spawn (id maps written by the shim, vfork-style exec)', () => {
  const userns =
    (uid: OciConfig['linux'] extends infer L ? NonNullable<L>['uidMappings'] : never) => (cfg: OciConfig) => {
      cfg.linux!.namespaces!.push({ type: 'user' });
      cfg.linux!.uidMappings = uid;
      cfg.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    };

  it('the payload is root of its own user namespace, under floe-init as PID 1, with the default capabilities there', async () => {
    const plain = await sh('cat /proc/self/status');
    const { text, exit } = await sh(
      'id -u; readlink /proc/1/ns/user; head -c 9 /proc/1/cmdline; echo; cat /proc/1/uid_map /proc/1/gid_map; cat /proc/self/status',
      userns([{ containerID: 0, hostID: 100000, size: 65536 }]),
    );
    expect(exit).toEqual({ reason: 'exited', code: 0 });
    const [uid, ns, init, uidMap, gidMap] = text.split('\n');
    expect(uid).toBe('0');
    expect(ns).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
    expect(init).toBe('floe-init');
    expect(uidMap!.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect(gidMap!.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect(status(text, 'CapEff')).toBe(status(plain.text, 'CapEff'));
    expect(BigInt(`0x${status(text, 'CapEff')}`)).not.toBe(0n);
  });

  it('a uid map the kernel refuses fails the spawn with a SyscallError naming the uid_map write, leaving no state, cgroup or process', async () => {
    const id = env.id('badmap');
    const spec = defaultSpec({ rootfs: env.rootfs, args: ['/bin/true'] });
    // Passes validation (it ends at 2^32) but wraps in the kernel's u32 arithmetic: EINVAL.
    userns([{ containerID: 0, hostID: 4294967295, size: 1 }])(spec);
    const children = () =>
      fs
        .readdirSync('/proc/self/task')
        .flatMap((t) => fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8').split(' ').filter(Boolean));
    const before = children();
    await expect(env.rt.run(id, spec)).rejects.toMatchObject({
      code: 'SYSCALL',
      syscall: 'write',
      errno: 22,
      message: expect.stringContaining('uid_map'),
    });
    expect(await env.rt.load(id)).toBeUndefined();
    const cgroups = Object.values(env.rt.cgroups.v1Mounts).concat(env.rt.cgroups.unifiedPath ?? []);
    for (const root of new Set(cgroups)) expect(fs.existsSync(path.join(root, env.parent, id))).toBe(false);
    // The shim reaped the child it cloned: no new child of this process, live or zombie.
    expect(children()).toEqual(before);
  });
});

describe('mount propagation', () => {
  it('a host mount made later under a shared dir appears inside through an rslave bind', async () => {
    const sys = new NativeSyscalls();
    const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-shared-'));
    let boundShared = false;
    let boundSub = false;
    try {
      // The agent's side: make the dir its own shared mount once, before containers start.
      sys.mount(shared, shared, null, MS.BIND, null);
      boundShared = true;
      sys.mount(null, shared, null, MS.SHARED, null);
      fs.mkdirSync(path.join(shared, 'code'));

      const out = capture();
      const spec = defaultSpec({
        rootfs: env.rootfs,
        args: [
          '/bin/sh',
          '-c',
          'i=0; while [ ! -f /fn/code/handler ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i+1)); done; cat /fn/code/handler',
        ],
      });
      spec.mounts!.push({
        destination: '/fn',
        type: 'bind',
        source: shared,
        options: ['rbind', 'rslave', 'ro'],
      });
      const c = await env.rt.run(env.id(), spec, { stdio: { stdout: out.fd, stderr: out.fd } });
      out.closeWrite();

      // Later: mount the function's code onto the shared dir on the host.
      const code = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-code-'));
      fs.writeFileSync(path.join(code, 'handler'), 'v1\n');
      sys.mount(code, path.join(shared, 'code'), null, MS.BIND, null);
      boundSub = true;
      expect(await out.text()).toBe('v1\n');
      expect(await c.wait()).toEqual({ reason: 'exited', code: 0 });
      await env.rt.delete(c.id);
      fs.rmSync(code, { recursive: true, force: true });
    } finally {
      if (boundSub) sys.umount2(path.join(shared, 'code'), 2);
      if (boundShared) sys.umount2(shared, 2);
      fs.rmSync(shared, { recursive: true, force: true });
    }
  });
});
