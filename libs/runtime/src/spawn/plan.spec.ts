import { describe, expect, it } from 'vitest';
import { buildDefaultSeccomp } from '../seccomp/bpf.js';
import { defaultSpec } from '../spec/defaults.js';
import { MS, parseMountOptions } from './mount-options.js';
import { Op, OpProgram } from './op-program.js';
import { CLONE, planSpawn } from './plan.js';

describe(planSpawn.name, () => {
  const spec = defaultSpec({ rootfs: '/tmp/rootfs', args: ['/bin/true'] });
  const plan = planSpawn({ config: spec, opts: {}, initFd: 42, seccomp: buildDefaultSeccomp() });
  const codes = plan.program.codes();

  it('clones every namespace but cgroup (unshared after the v1 attach) and user', () => {
    const f = Number(plan.cloneFlags);
    for (const ns of [CLONE.NEWNS, CLONE.NEWPID, CLONE.NEWNET, CLONE.NEWIPC, CLONE.NEWUTS])
      expect(f & ns).toBe(ns);
    expect(f & CLONE.NEWCGROUP).toBe(0);
    expect(f & CLONE.NEWUSER).toBe(0);
  });

  it('orders ops: mounts, pivot_root, READY, start wait, cgroupns, seccomp last, execveat', () => {
    const i = (op: number) => codes.indexOf(op as never);
    expect(i(Op.MOUNT)).toBeLessThan(i(Op.PIVOT));
    expect(i(Op.PIVOT)).toBeLessThan(i(Op.READY));
    expect(i(Op.READY)).toBeLessThan(codes.lastIndexOf(Op.WAIT));
    expect(codes.lastIndexOf(Op.WAIT)).toBeLessThan(i(Op.UNSHARE));
    expect(codes.at(-1)).toBe(Op.EXECVEAT);
    expect(codes.at(-2)).toBe(Op.SECCOMP);
    expect(codes.at(-3)).toBe(Op.PRCTL); // no_new_privs
  });

  it('waits for id maps first when a user namespace is requested', () => {
    const s = defaultSpec({ rootfs: '/r', args: ['/bin/true'] });
    s.linux!.namespaces!.push({ type: 'user' });
    const p = planSpawn({ config: s, opts: {}, initFd: 3 }).program.codes();
    expect(p.slice(0, 3)).toEqual([Op.WAIT, Op.SETRESGID, Op.SETRESUID]);
  });

  it('lists the caller fds the program uses (floe-init, stdio sources) once each', () => {
    const p = planSpawn({ config: spec, opts: { stdio: { stdout: 7, stderr: 7 } }, initFd: 42 });
    expect(p.keepFds).toEqual([42, 7]);
    expect(plan.keepFds).toEqual([42]);
  });
});

describe(OpProgram.name, () => {
  it('encodes header, 64-byte records and NUL-terminated strings', () => {
    const p = new OpProgram().add(Op.CHDIR, [{ str: '/x' }], { syscall: 'chdir', path: '/x' });
    const b = p.encode();
    expect(b.readUInt32LE(0)).toBe(0x464c4f45);
    expect(b.readUInt32LE(4)).toBe(1);
    expect(Number(b.readBigUInt64LE(16))).toBe(Op.CHDIR);
    const off = Number(b.readBigUInt64LE(24));
    expect(b.toString('latin1', off, off + 3)).toBe('/x\0');
    expect(p.describe(0)).toMatchObject({ syscall: 'chdir', path: '/x' });
  });

  it('encodes numbers above 32 bits, negatives and bigints as u64 words', () => {
    const b = new OpProgram()
      .add(Op.RLIMIT, [2 ** 40 + 5, -1, 1n << 63n], { syscall: 'setrlimit' }, 1)
      .encode();
    expect(b.readBigUInt64LE(16)).toBe(BigInt(Op.RLIMIT) | (1n << 32n));
    expect(b.readBigUInt64LE(24)).toBe(2n ** 40n + 5n);
    expect(b.readBigUInt64LE(32)).toBe(2n ** 64n - 1n);
    expect(b.readBigUInt64LE(40)).toBe(1n << 63n);
  });
});

describe(parseMountOptions.name, () => {
  it('splits flags, propagation, data and X-floe.mkdir', () => {
    const o = parseMountOptions(['ro', 'rbind', 'rslave', 'mode=755', 'X-floe.mkdir=/a/b', 'rw']);
    expect(o.flags).toBe(MS.RDONLY | MS.BIND | MS.REC);
    expect(o.propagation).toBe(MS.SLAVE | MS.REC);
    expect(o.data).toBe('mode=755');
    expect(o.mkdirs).toEqual(['/a/b']);
  });
});
