import fs from 'node:fs';
import { FailedPreconditionError, SyscallError } from '@floe/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Container } from './container.js';
import { defaultSpec } from './spec/defaults.js';
import type { CreateOptions, OciConfig } from './spec/types.js';
import { capture, testEnv } from './testing/fixtures.js';

let env: ReturnType<typeof testEnv>;
beforeAll(() => {
  env = testEnv();
});
afterAll(async () => {
  await env.cleanup();
});

/** Runs `sh -c script` and returns stdout+stderr and the exit. */
async function sh(script: string, tweak?: (c: OciConfig) => void, opts: CreateOptions = {}) {
  const spec = defaultSpec({ rootfs: env.rootfs, args: ['/bin/sh', '-c', script], hostname: 'box' });
  tweak?.(spec);
  const out = capture();
  const c = await env.rt.run(env.id(), spec, { ...opts, stdio: { stdout: out.fd, stderr: out.fd } });
  out.closeWrite();
  const [text, exit] = await Promise.all([out.text(), c.wait()]);
  await env.rt.delete(c.id);
  return { text, exit, c };
}

describe('Runtime (namespaces, rootfs, init)', () => {
  it('runs the payload under floe-init as PID 1 in its own pid namespace', async () => {
    const { text, exit } = await sh('ps -o pid,comm; echo self=$$');
    expect(exit).toEqual({ reason: 'exited', code: 0 });
    const lines = text.trim().split('\n');
    // header + floe-init + sh + ps only: no host process is visible
    expect(lines[1]).toMatch(/^\s*1\s+floe-init/);
    expect(lines.filter((l) => /^\s*\d+\s/.test(l)).length).toBe(3);
    expect(text).toContain('self=2');
  });

  it('gives the container its own hostname (uts) and only lo, up (net)', async () => {
    const { text } = await sh(
      'hostname; cat /proc/net/dev | tail -n +3 | cut -d: -f1; cat /sys/class/net/lo/operstate',
    );
    const [host, ...rest] = text.trim().split('\n');
    expect(host).toBe('box');
    expect(rest.map((s) => s.trim())).toEqual(['lo', 'unknown']);
  });

  it('pivots into the rootfs with /proc, a minimal /dev and read-only /sys', async () => {
    const { text } = await sh(
      'ls /; ls /dev; echo x > /dev/null && echo devnull-ok; touch /sys/x 2>/dev/null || echo sys-ro; cat /proc/1/cmdline | head -c 9; echo; head -c 4 /dev/zero | wc -c',
    );
    for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'ptmx'])
      expect(text).toContain(d);
    expect(text).toContain('devnull-ok');
    expect(text).toContain('sys-ro');
    expect(text).toContain('floe-init');
    expect(text.trim().endsWith('4')).toBe(true);
    // The host root is gone after pivot_root (not chroot): no /work inside.
    expect(text.split('\n')).not.toContain('work');
  });

  it('runs floe-init as PID 1 with the payload argv, and the payload without setup state', async () => {
    // The setup stage continues as PID 1 without a second exec: what ps sees must not change.
    const script = 'tr "\\0" "|" < /proc/1/cmdline; echo; tr "\\0" "\\n" < /proc/1/environ';
    const { text } = await sh(script);
    const [cmdline, ...env] = text.trim().split('\n');
    expect(cmdline).toBe(`floe-init|/bin/sh|-c|${script}|`);
    expect(env.some((e) => e.startsWith('PATH='))).toBe(true);
    // PID 1's own environ has one FLOE_SETUP entry ahead of the payload's; never the payload's.
    expect(env.filter((e) => e.startsWith('FLOE_SETUP'))).toHaveLength(1);
    const { text: own } = await sh('env');
    expect(own).not.toContain('FLOE_SETUP');
  });

  it('masks and read-only-binds Docker default paths', async () => {
    // /proc/kcore and /proc/scsi do not exist on this kernel; timer_list and acpi do.
    const { text } = await sh(
      'wc -c < /proc/timer_list; ls /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/sysrq 2>&1 || echo sys-ro',
    );
    const [timers, acpi] = text.trim().split('\n');
    expect(timers!.trim()).toBe('0');
    expect(acpi!.trim()).toBe('0');
    expect(text).toContain('sys-ro');
  });

  it('sees its own cgroup as the root (cgroup namespace)', async () => {
    const { text } = await sh('cat /proc/self/cgroup');
    for (const line of text.trim().split('\n')) expect(line.endsWith(':/')).toBe(true);
  });

  it('has its own ipc namespace', async () => {
    const host = fs.readlinkSync('/proc/self/ns/ipc');
    const { text } = await sh('ls -l /proc/self/ns/ipc');
    expect(text).toContain('ipc:[');
    expect(text).not.toContain(host);
  });

  it('reports exit codes and signal deaths of the payload', async () => {
    expect((await sh('exit 7')).exit).toEqual({ reason: 'exited', code: 7 });
    expect((await sh('kill -TERM $$')).exit).toEqual({ reason: 'signaled', signal: 'SIGTERM' });
  });

  it('kill() forwards signals through init; a timeout kill is reported as timeout', async () => {
    const spec = defaultSpec({ rootfs: env.rootfs, args: ['/bin/sleep', '100'] });
    let c: Container = await env.rt.run(env.id(), spec);
    await c.kill('SIGINT');
    expect(await c.wait()).toEqual({ reason: 'signaled', signal: 'SIGINT' });
    c = await env.rt.run(env.id(), spec);
    await c.kill('SIGKILL', { reason: 'timeout' });
    expect(await c.wait()).toEqual({ reason: 'timeout' });
  });

  it('create waits before exec until start(), with transitions', async () => {
    const out = capture();
    const spec = defaultSpec({ rootfs: env.rootfs, args: ['/bin/echo', 'started'] });
    const c = await env.rt.create(env.id(), spec, { stdio: { stdout: out.fd } });
    out.closeWrite();
    const seen: string[] = [];
    c.on('transition', (_from: string, to: string) => seen.push(to));
    expect(c.status).toBe('created');
    await new Promise((r) => setTimeout(r, 20));
    expect(c.status).toBe('created');
    await c.start();
    expect(await out.text()).toBe('started\n');
    expect(await c.wait()).toEqual({ reason: 'exited', code: 0 });
    expect(seen).toEqual(['running', 'stopped']);
    await expect(c.start()).rejects.toBeInstanceOf(FailedPreconditionError);
    await env.rt.delete(c.id);
    expect(c.status).toBe('deleted');
  });

  it('turns a failing setup op into a SyscallError naming the syscall and path, leaving nothing', async () => {
    const spec = defaultSpec({ rootfs: env.rootfs, args: ['/bin/true'], cwd: '/does/not/exist' });
    const id = env.id();
    const err = await env.rt.run(id, spec).catch((e) => e);
    expect(err).toBeInstanceOf(SyscallError);
    expect(err.syscall).toBe('chdir');
    expect(err.path).toBe('/does/not/exist');
    expect(err.message).toContain('ENOENT');
    expect(env.rt.get(id)).toBeUndefined();
    expect(fs.existsSync(`${env.stateDir}/runtime/${id}`)).toBe(false);
    // In every hierarchy detection finds, not only v1 memory (a pure v2 host has none).
    const info = env.rt.cgroups;
    const roots = new Set([...Object.values(info.v1Mounts), ...(info.unifiedPath ? [info.unifiedPath] : [])]);
    for (const r of roots) expect(fs.existsSync(`${r}/${env.parent}/${id}`)).toBe(false);
  });

  it('reports a missing executable as exit 127 from init', async () => {
    const spec = defaultSpec({ rootfs: env.rootfs, args: ['/bin/nope'] });
    const c = await env.rt.run(env.id(), spec);
    expect(await c.wait()).toEqual({ reason: 'exited', code: 127 });
  });

  it('performs rootfsMounts (tmpfs + overlay with X-floe.mkdir) inside the container only', async () => {
    const empty = fs.mkdtempSync('/tmp/floe-empty-');
    try {
      const scratch = `${empty}/.scratch`;
      const spec = defaultSpec({
        rootfs: empty,
        args: ['/bin/sh', '-c', 'echo hi > /new && cat /new && ls /bin | head -1'],
      });
      const out = capture();
      const c = await env.rt.run(env.id(), spec, {
        stdio: { stdout: out.fd, stderr: out.fd },
        rootfsMounts: [
          {
            type: 'tmpfs',
            source: 'tmpfs',
            target: scratch,
            options: [`X-floe.mkdir=${scratch}`, 'mode=755'],
          },
          {
            type: 'overlay',
            source: 'overlay',
            options: [
              `X-floe.mkdir=${scratch}/upper`,
              `X-floe.mkdir=${scratch}/work`,
              `lowerdir=${env.rootfs}`,
              `upperdir=${scratch}/upper`,
              `workdir=${scratch}/work`,
            ],
          },
        ],
      });
      out.closeWrite();
      expect(await out.text()).toBe('hi\nbusybox\n');
      expect(await c.wait()).toEqual({ reason: 'exited', code: 0 });
      // Other engineers mount on this VM concurrently: look only for mounts of ours.
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(empty);
      expect(fs.existsSync(`${env.rootfs}/new`)).toBe(false);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('joins an existing network namespace with network.netnsPath', async () => {
    const a = await env.rt.run(env.id(), defaultSpec({ rootfs: env.rootfs, args: ['/bin/sleep', '100'] }));
    const netns = `/proc/${a.pid}/ns/net`;
    const { text } = await sh('ls -l /proc/self/ns/net', undefined, { network: { netnsPath: netns } });
    expect(text).toContain(fs.readlinkSync(netns));
    await env.rt.delete(a.id);
  });
});
