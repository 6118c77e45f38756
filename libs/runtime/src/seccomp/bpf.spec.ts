import { describe, expect, it } from 'vitest';
import {
  AUDIT_ARCH_X86_64,
  buildDefaultSeccomp,
  compileSeccomp,
  compileSeccompUncached,
  DEFAULT_DENIED,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SYSCALL_NR,
  seccompKey,
} from './bpf.js';

/** A tiny classic-BPF interpreter over seccomp_data {nr, arch}. */
function run(prog: Buffer, nr: number, arch = AUDIT_ARCH_X86_64): number {
  let acc = 0;
  for (let pc = 0; pc < prog.length / 8; ) {
    const code = prog.readUInt16LE(pc * 8);
    const jt = prog.readUInt8(pc * 8 + 2);
    const jf = prog.readUInt8(pc * 8 + 3);
    const k = prog.readUInt32LE(pc * 8 + 4);
    pc++;
    if (code === 0x20) acc = k === 0 ? nr : k === 4 ? arch : 0;
    else if (code === 0x15) pc += acc === k ? jt : jf;
    else if (code === 0x35) pc += acc >>> 0 >= k ? jt : jf;
    else if (code === 0x06) return k >>> 0;
    else throw new Error(`bad opcode ${code}`);
  }
  throw new Error('fell off the program');
}

const EPERM = (SECCOMP_RET_ERRNO | 1) >>> 0;

describe(buildDefaultSeccomp.name, () => {
  const prog = buildDefaultSeccomp();

  it.each(DEFAULT_DENIED)('denies %s with EPERM', (name) => {
    expect(run(prog, SYSCALL_NR[name]!)).toBe(EPERM);
  });

  it.each(['read', 'write', 'clone', 'execve', 'getpid'])('allows %s', (name) => {
    expect(run(prog, SYSCALL_NR[name]!)).toBe(SECCOMP_RET_ALLOW);
  });

  it('kills on a foreign architecture and denies x32 numbers', () => {
    expect(run(prog, 0, 0x40000003)).toBe(SECCOMP_RET_KILL_PROCESS >>> 0);
    expect(run(prog, 0x40000000 + 165)).toBe(EPERM);
    expect(run(prog, 0x40000000)).toBe(EPERM);
  });
});

describe(compileSeccomp.name, () => {
  it('compiles an OCI profile with errnoRet', () => {
    const prog = compileSeccomp({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }],
    });
    expect(run(prog, SYSCALL_NR.kill!)).toBe((SECCOMP_RET_ERRNO | 38) >>> 0);
    expect(run(prog, SYSCALL_NR.read!)).toBe(SECCOMP_RET_ALLOW);
  });

  it('rejects unknown syscall names naming the field', () => {
    expect(() =>
      compileSeccomp({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['nope'], action: 'SCMP_ACT_ERRNO' }],
      }),
    ).toThrow(/linux.seccomp.syscalls\[0\].names\[0\]/);
  });
});

describe('compileSeccomp cache', () => {
  const profile = () => ({
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [{ names: ['mount', 'umount2'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  });

  it('returns the same bytes as an uncached compile, shared for equal profiles', () => {
    const a = compileSeccomp(profile());
    expect(a.equals(compileSeccompUncached(profile()))).toBe(true);
    expect(compileSeccomp(profile())).toBe(a);
  });

  it('keys on every field the compiler reads', () => {
    const base = seccompKey(profile());
    const changed = [
      { ...profile(), defaultAction: 'SCMP_ACT_KILL' },
      { ...profile(), syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] },
      { ...profile(), syscalls: [{ names: ['mount', 'umount2'], action: 'SCMP_ACT_ERRNO', errnoRet: 2 }] },
      { ...profile(), syscalls: [{ names: ['mount', 'umount2'], action: 'SCMP_ACT_KILL' }] },
      { ...profile(), syscalls: [{ names: ['umount2', 'mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] },
    ];
    for (const c of changed) {
      expect(seccompKey(c)).not.toBe(base);
      expect(compileSeccomp(c).equals(compileSeccompUncached(c))).toBe(true);
    }
    // architectures is not read (x86-64 only), so it does not split the cache.
    expect(seccompKey({ ...profile(), architectures: [] })).toBe(base);
  });

  it('does not cache failures', () => {
    const bad = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['nope'], action: 'SCMP_ACT_KILL' }] };
    expect(() => compileSeccomp(bad)).toThrow(/unknown syscall/);
    expect(() => compileSeccomp(bad)).toThrow(/unknown syscall/);
  });

  it('stays bounded and keeps recently used profiles', () => {
    const first = compileSeccomp(profile());
    for (let i = 0; i < 100; i++) {
      compileSeccomp({
        ...profile(),
        syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: i + 10 }],
      });
      if (i % 8 === 0) expect(compileSeccomp(profile())).toBe(first);
    }
    expect(compileSeccomp(profile())).toBe(first);
  });

  it('shares one default filter', () => {
    expect(buildDefaultSeccomp()).toBe(buildDefaultSeccomp());
  });
});
