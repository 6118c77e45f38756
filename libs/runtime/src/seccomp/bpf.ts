import { InvalidArgumentError } from '@floe/contracts';
import type { OciSeccomp } from '../spec/types.js';

/** x86_64 syscall numbers the filters refer to. */
export const SYSCALL_NR: Record<string, number> = {
  read: 0,
  write: 1,
  open: 2,
  close: 3,
  getpid: 39,
  clone: 56,
  fork: 57,
  execve: 59,
  kill: 62,
  chroot: 161,
  ptrace: 101,
  personality: 135,
  pivot_root: 155,
  acct: 163,
  settimeofday: 164,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  sethostname: 170,
  setdomainname: 171,
  iopl: 172,
  ioperm: 173,
  init_module: 175,
  delete_module: 176,
  quotactl: 179,
  lookup_dcookie: 212,
  clock_settime: 227,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  open_by_handle_at: 304,
  setns: 308,
  finit_module: 313,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
};

/** Denied by default with EPERM: privileged or kernel-attack-surface calls (Docker's list, trimmed). */
export const DEFAULT_DENIED = [
  'mount',
  'umount2',
  'pivot_root',
  'reboot',
  'swapon',
  'swapoff',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'bpf',
  'perf_event_open',
  'keyctl',
  'add_key',
  'request_key',
  'open_by_handle_at',
  'setns',
  'unshare',
  'ptrace',
  'acct',
  'settimeofday',
  'clock_settime',
  'iopl',
  'ioperm',
  'quotactl',
  'lookup_dcookie',
  'userfaultfd',
  'open_tree',
  'move_mount',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
];

// Classic BPF opcodes.
const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_RET_K = 0x06;
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const X32_SYSCALL_BIT = 0x40000000;
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
const EPERM = 1;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

function encode(insns: Insn[]): Buffer {
  const b = Buffer.alloc(insns.length * 8);
  insns.forEach((x, i) => {
    b.writeUInt16LE(x.code, i * 8);
    b.writeUInt8(x.jt, i * 8 + 2);
    b.writeUInt8(x.jf, i * 8 + 3);
    b.writeUInt32LE(x.k >>> 0, i * 8 + 4);
  });
  return b;
}

/**
 * A filter: kill the process on a foreign arch, `x32Action` for x32 numbers, `action` for
 * each listed nr, `defaultAction` for the rest. Actions are SECCOMP_RET_* values.
 */
export function buildFilter(rules: { nr: number; action: number }[], defaultAction: number): Buffer {
  if (rules.length > 250)
    throw new InvalidArgumentError('linux.seccomp.syscalls', 'too many syscalls for one filter');
  const insns: Insn[] = [
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 4 }, // seccomp_data.arch
    { code: BPF_JEQ_K, jt: 1, jf: 0, k: AUDIT_ARCH_X86_64 },
    { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_KILL_PROCESS },
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 0 }, // seccomp_data.nr
  ];
  // x32 shares AUDIT_ARCH_X86_64, so nr must be checked too or every rule has a twin.
  const rets = [...new Set(rules.map((r) => r.action))];
  const x32At = insns.length;
  insns.push({ code: BPF_JGE_K, jt: 0, jf: 0, k: X32_SYSCALL_BIT });
  for (const r of rules) insns.push({ code: BPF_JEQ_K, jt: 0, jf: 0, k: r.nr });
  insns.push({ code: BPF_RET_K, jt: 0, jf: 0, k: defaultAction });
  const x32Ret = insns.length;
  insns.push({ code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | EPERM });
  const retStart = insns.length;
  for (const a of rets) insns.push({ code: BPF_RET_K, jt: 0, jf: 0, k: a });
  // Jumps are relative to the next instruction; a matching JEQ jumps to its action's RET.
  insns[x32At]!.jt = x32Ret - (x32At + 1);
  rules.forEach((r, j) => {
    const at = x32At + 1 + j;
    insns[at]!.jt = retStart + rets.indexOf(r.action) - (at + 1);
  });
  if (insns.some((x) => x.jt > 255)) throw new Error('seccomp filter jump out of range');
  return encode(insns);
}

let defaultFilter: Buffer | undefined;

/** The default filter: deny DEFAULT_DENIED with EPERM, allow everything else. Shared: do not mutate. */
export function buildDefaultSeccomp(): Buffer {
  defaultFilter ??= buildFilter(
    DEFAULT_DENIED.map((n) => ({ nr: SYSCALL_NR[n]!, action: SECCOMP_RET_ERRNO | EPERM })),
    SECCOMP_RET_ALLOW,
  );
  return defaultFilter;
}

function action(a: string, errnoRet: number | undefined, field: string): number {
  if (a === 'SCMP_ACT_ALLOW') return SECCOMP_RET_ALLOW;
  if (a === 'SCMP_ACT_ERRNO') return SECCOMP_RET_ERRNO | ((errnoRet ?? EPERM) & 0xffff);
  if (a === 'SCMP_ACT_KILL' || a === 'SCMP_ACT_KILL_PROCESS') return SECCOMP_RET_KILL_PROCESS;
  throw new InvalidArgumentError(field, `unsupported action ${a}`);
}

/** Key of what `compileSeccomp` reads from a config (not `architectures`: x86-64 only). */
export function seccompKey(s: OciSeccomp): string {
  return JSON.stringify([
    s.defaultAction,
    (s.syscalls ?? []).map((g) => [g.action, g.errnoRet ?? null, g.names]),
  ]);
}

const CACHE_MAX = 32;
const cache = new Map<string, Buffer>();

/**
 * `compileSeccompUncached`, memoized by `seccompKey` (it is a pure function of those
 * fields; most containers of a process share one profile). The returned Buffer is shared:
 * callers must not mutate it. Errors are not cached. Least recently used entries go first.
 */
export function compileSeccomp(s: OciSeccomp): Buffer {
  const key = seccompKey(s);
  let bpf = cache.get(key);
  if (bpf) {
    cache.delete(key);
  } else {
    bpf = compileSeccompUncached(s);
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  }
  cache.set(key, bpf);
  return bpf;
}

/** Compiles an OCI `linux.seccomp` (names from SYSCALL_NR only) into BPF bytes. */
export function compileSeccompUncached(s: OciSeccomp): Buffer {
  const rules: { nr: number; action: number }[] = [];
  s.syscalls?.forEach((g, i) => {
    const act = action(g.action, g.errnoRet, `linux.seccomp.syscalls[${i}].action`);
    g.names.forEach((n, j) => {
      const nr = SYSCALL_NR[n];
      if (nr === undefined)
        throw new InvalidArgumentError(`linux.seccomp.syscalls[${i}].names[${j}]`, `unknown syscall ${n}`);
      rules.push({ nr, action: act });
    });
  });
  return buildFilter(rules, action(s.defaultAction, undefined, 'linux.seccomp.defaultAction'));
}
