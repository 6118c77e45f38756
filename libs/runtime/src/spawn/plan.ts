import fs from 'node:fs';
import path from 'node:path';
import type { Mount } from '@floe/contracts';
import { capMask } from '../caps.js';
import { inAddr } from '../net/bridge.js';
import type { CreateOptions, OciConfig, OciMount } from '../spec/types.js';
import { MNT_DETACH, MS, PROPAGATION, parseMountOptions } from './mount-options.js';
import { OPF_IGNORE_ENOENT, Op, OpProgram } from './op-program.js';

export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

const NS_FLAG: Record<string, number> = {
  mount: CLONE.NEWNS,
  uts: CLONE.NEWUTS,
  ipc: CLONE.NEWIPC,
  user: CLONE.NEWUSER,
  pid: CLONE.NEWPID,
  network: CLONE.NEWNET,
  cgroup: CLONE.NEWCGROUP,
};

const PR_SET_NO_NEW_PRIVS = 38;
const PR_SET_KEEPCAPS = 8;
const AT_EMPTY_PATH = 0x1000;
const RLIMIT: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

/** Host device nodes bind-mounted into /dev (mknod is not allowed in a user namespace). */
export const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

export interface PlanInput {
  config: OciConfig;
  opts: CreateOptions;
  /** fd of floe-init, opened before clone; exec'd with execveat(AT_EMPTY_PATH). */
  initFd: number;
  seccomp?: Buffer;
  /** eth0 configuration for bridge networking (the veth is created by the parent before start). */
  net?: { ip: string; prefix: number; gateway: string };
  /** create+start in one go: no READY record (the parent sends the start byte right away). */
  autoStart?: boolean;
  /** exec.fifo to wait on for start instead of the sync pipe (cross-process start). */
  execFifoPath?: string;
}

export interface SpawnPlan {
  program: OpProgram;
  /** Whether the child reports READY before waiting for start. */
  readyRecord: boolean;
  cloneFlags: bigint;
  namespaces: Set<string>;
  /** Caller fds the program uses (stdio sources, floe-init): kept open for a vfork+exec spawn. */
  keepFds: number[];
}

/** Whether a host path is a directory (for masked paths: tmpfs over dirs, /dev/null over files). */
function isDir(p: string): boolean {
  // No throw for missing paths: most default masked paths do not exist, and building an
  // ENOENT error with its stack trace costs more than the stat.
  try {
    return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}

/**
 * Turns a validated config into the child's op program. Order matters:
 * (userns: wait for id maps, become root) → make / a slave so nothing propagates to the
 * host → rootfs mounts → config mounts → pivot_root → masked/readonly paths → process setup
 * → READY → wait for start (v1 cgroups attached by then) → own cgroup ns → drop privileges →
 * no_new_privs → seccomp (last, so the setup ops are not filtered) → execveat(floe-init).
 */
export function planSpawn(input: PlanInput): SpawnPlan {
  const { config: c, opts } = input;
  const p = new OpProgram();
  const ns = new Set((c.linux?.namespaces ?? []).map((n) => n.type));
  let flags = 0;
  const joinNet = typeof opts.network === 'object' ? opts.network.netnsPath : undefined;
  if (joinNet) ns.delete('network');
  for (const n of ns) if (n !== 'cgroup') flags |= NS_FLAG[n]!;
  const rootfs = path.resolve(c.root.path);

  const fifo = input.execFifoPath;
  if (fifo) {
    // O_RDWR never blocks on open; reads block until `start` writes. Opened first, with the
    // host-root credentials still in place and before pivot_root hides the state dir.
    p.add(Op.OPEN_REG, [{ str: fifo }, 2, 0], { syscall: 'open', path: fifo });
  }
  if (joinNet) {
    // Joined while the host paths are still visible, before any mount work.
    p.add(Op.SETNS, [{ str: joinNet }, CLONE.NEWNET], {
      syscall: 'setns',
      path: joinNet,
      what: 'join network namespace',
    });
  }
  if (ns.has('user')) {
    // Nothing works in a user namespace before the parent wrote uid_map/gid_map.
    p.add(Op.WAIT, [], { syscall: 'read', what: 'wait for id maps' });
    p.add(Op.SETRESGID, [0], { syscall: 'setresgid', what: 'become root in user namespace' });
    p.add(Op.SETRESUID, [0], { syscall: 'setresuid', what: 'become root in user namespace' });
  }

  // A child of its own address space sets its own score (raising needs no privilege, and it
  // still has every capability here); in a user namespace the parent writes it instead.
  const adj = c.process.oomScoreAdj;
  if (adj !== undefined && !ns.has('user')) {
    const text = String(adj);
    p.add(Op.WRITE_FILE, [{ str: '/proc/self/oom_score_adj' }, { str: text }, text.length], {
      syscall: 'write',
      path: '/proc/self/oom_score_adj',
      what: 'set oom_score_adj',
    });
  }

  if (ns.has('mount')) {
    const prop = PROPAGATION[c.linux?.rootfsPropagation ?? 'rslave']! | MS.REC;
    p.add(Op.MOUNT, [null, { str: '/' }, null, prop, null], {
      syscall: 'mount',
      path: '/',
      what: 'set root propagation',
    });
    let rootMounted = false;
    for (const m of opts.rootfsMounts ?? []) {
      rootMounted ||= !m.target || path.resolve(m.target) === rootfs;
      addMount(p, m, m.target ?? rootfs);
    }
    if (!rootMounted) {
      p.add(Op.MOUNT, [{ str: rootfs }, { str: rootfs }, null, MS.BIND | MS.REC, null], {
        syscall: 'mount',
        path: rootfs,
        what: 'bind rootfs',
      });
    }
    for (const m of c.mounts ?? []) addConfigMount(p, rootfs, m);
    p.add(Op.PIVOT, [{ str: rootfs }], { syscall: 'pivot_root', path: rootfs });
    for (const mp of c.linux?.maskedPaths ?? []) {
      if (isDir(mp)) {
        p.add(
          Op.MOUNT,
          [{ str: 'tmpfs' }, { str: mp }, { str: 'tmpfs' }, MS.RDONLY, null],
          { syscall: 'mount', path: mp, what: 'mask path' },
          OPF_IGNORE_ENOENT,
        );
      } else {
        p.add(
          Op.MOUNT,
          [{ str: '/dev/null' }, { str: mp }, null, MS.BIND, null],
          { syscall: 'mount', path: mp, what: 'mask path' },
          OPF_IGNORE_ENOENT,
        );
      }
    }
    for (const rp of c.linux?.readonlyPaths ?? []) {
      p.add(
        Op.MOUNT,
        [{ str: rp }, { str: rp }, null, MS.BIND | MS.REC, null],
        { syscall: 'mount', path: rp, what: 'readonly path' },
        OPF_IGNORE_ENOENT,
      );
      // Locked flags of the proc mount must be kept on remount inside a user namespace.
      const ro = MS.BIND | MS.REC | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC;
      p.add(
        Op.MOUNT,
        [{ str: rp }, { str: rp }, null, ro, null],
        { syscall: 'mount', path: rp, what: 'readonly path' },
        OPF_IGNORE_ENOENT,
      );
    }
    if (c.root.readonly) {
      p.add(Op.MOUNT, [null, { str: '/' }, null, MS.REMOUNT | MS.BIND | MS.RDONLY, null], {
        syscall: 'mount',
        path: '/',
        what: 'readonly rootfs',
      });
    }
  }
  if (ns.has('uts') && c.hostname) {
    p.add(Op.SETHOSTNAME, [{ str: c.hostname }, Buffer.byteLength(c.hostname)], { syscall: 'sethostname' });
  }
  if (ns.has('network')) p.add(Op.LO_UP, [], { syscall: 'ioctl', path: 'lo', what: 'bring loopback up' });
  p.add(Op.CHDIR, [{ str: c.process.cwd ?? '/' }], { syscall: 'chdir', path: c.process.cwd ?? '/' });
  for (const r of c.process.rlimits ?? []) {
    p.add(Op.RLIMIT, [RLIMIT[r.type]!, r.soft, r.hard], { syscall: 'setrlimit', what: r.type });
  }

  const stdio = opts.stdio ?? {};
  let nullMask = 0;
  (['stdin', 'stdout', 'stderr'] as const).forEach((k, i) => {
    const fd = stdio[k];
    if (fd === undefined) nullMask |= 1 << i;
    else p.add(Op.DUP2, [fd, i], { syscall: 'dup2', what: k });
  });
  if (nullMask) p.add(Op.OPEN_NULL_STDIO, [nullMask], { syscall: 'open', path: '/dev/null', what: 'stdio' });
  // Everything Node had open must not leak into the payload; close_range(CLOEXEC) keeps the
  // status pipe and floe-init's fd usable until the execveat itself.
  p.add(Op.CLOEXEC_FROM, [3], { syscall: 'close_range' });
  p.add(Op.SETSID, [], { syscall: 'setsid' });
  // create reports READY and waits for start; run skips the extra round trip.
  if (!input.autoStart) p.add(Op.READY, [], { syscall: 'write', what: 'report ready' });
  // The parent writes v1 cgroup.procs while we set up, and releases this wait only after.
  if (fifo) p.add(Op.WAIT_REG, [0], { syscall: 'read', path: fifo, what: 'wait for start' });
  else p.add(Op.WAIT, [], { syscall: 'read', what: 'wait for start' });
  // Unshared only now that the parent placed us in every cgroup, so the namespace root is ours.
  if (ns.has('cgroup'))
    p.add(Op.UNSHARE, [CLONE.NEWCGROUP], { syscall: 'unshare', what: 'cgroup namespace' });
  if (input.net && ns.has('network')) {
    const { ip, prefix, gateway } = input.net;
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    const maskIp = [24, 16, 8, 0].map((s) => (mask >>> s) & 255).join('.');
    p.add(Op.NET_CONFIG, [{ str: 'eth0' }, inAddr(ip), inAddr(maskIp), inAddr(gateway)], {
      syscall: 'ioctl',
      path: 'eth0',
      what: `configure ${ip}/${prefix} via ${gateway}`,
    });
  }

  const nnp = c.process.noNewPrivileges ?? false;
  // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it before dropping caps.
  if (input.seccomp && !nnp) addSeccomp(p, input.seccomp);
  const caps = c.process.capabilities;
  const user = c.process.user ?? { uid: 0, gid: 0 };
  if (caps) p.add(Op.BSET_KEEP, [capMask(caps.bounding)], { syscall: 'prctl', what: 'PR_CAPBSET_DROP' });
  p.add(Op.PRCTL, [PR_SET_KEEPCAPS, 1, 0, 0, 0], { syscall: 'prctl', what: 'PR_SET_KEEPCAPS' });
  const groups = Buffer.alloc(4 * (user.additionalGids?.length ?? 0));
  user.additionalGids?.forEach((g, i) => {
    groups.writeUInt32LE(g, i * 4);
  });
  p.add(Op.SETGROUPS, [groups.length ? { bytes: groups } : null, groups.length / 4], {
    syscall: 'setgroups',
  });
  p.add(Op.SETRESGID, [user.gid], { syscall: 'setresgid' });
  p.add(Op.SETRESUID, [user.uid], { syscall: 'setresuid' });
  if (caps) {
    p.add(Op.CAPSET, [capMask(caps.effective), capMask(caps.permitted), capMask(caps.inheritable)], {
      syscall: 'capset',
    });
    if (caps.ambient?.length)
      p.add(Op.AMBIENT, [capMask(caps.ambient)], { syscall: 'prctl', what: 'PR_CAP_AMBIENT_RAISE' });
  }
  if (nnp)
    p.add(Op.PRCTL, [PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0], { syscall: 'prctl', what: 'PR_SET_NO_NEW_PRIVS' });
  if (input.seccomp && nnp) addSeccomp(p, input.seccomp);
  const env = c.process.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
  p.add(
    Op.EXECVEAT,
    [input.initFd, null, { strArray: ['floe-init', ...c.process.args] }, { strArray: env }, AT_EMPTY_PATH],
    {
      syscall: 'execveat',
      path: c.process.args[0],
    },
  );
  const keepFds = [input.initFd, ...Object.values(stdio).filter((fd): fd is number => fd !== undefined)];
  return {
    program: p,
    cloneFlags: BigInt(flags),
    namespaces: ns,
    readyRecord: !input.autoStart,
    keepFds: [...new Set(keepFds)],
  };
}

function addSeccomp(p: OpProgram, bpf: Buffer): void {
  p.add(Op.SECCOMP, [{ bytes: bpf }, bpf.length / 8], { syscall: 'seccomp', what: 'install filter' });
}

/** A rootfs mount (snapshotter output), honoring X-floe.mkdir. */
function addMount(p: OpProgram, m: Mount, target: string): void {
  const o = parseMountOptions(m.options);
  for (const d of o.mkdirs) p.add(Op.MKDIR, [{ str: d }, 0o755], { syscall: 'mkdir', path: d });
  const type = m.type === 'bind' ? null : { str: m.type };
  const flags = o.flags | (m.type === 'bind' ? MS.BIND : 0);
  p.add(Op.MOUNT, [{ str: m.source }, { str: target }, type, flags, o.data ? { str: o.data } : null], {
    syscall: 'mount',
    path: target,
    what: `mount ${m.type}`,
  });
}

function addConfigMount(p: OpProgram, rootfs: string, m: OciMount): void {
  const target = path.join(rootfs, m.destination);
  const o = parseMountOptions(m.options ?? []);
  const type = m.type ?? 'bind';
  const isBind = type === 'bind' || (o.flags & MS.BIND) !== 0;
  const desc = { syscall: 'mount', path: m.destination };
  if (isBind && m.source && !isDir(m.source)) {
    p.add(Op.MKDIR, [{ str: path.dirname(target) }, 0o755], { syscall: 'mkdir', path: path.dirname(target) });
    p.add(Op.TOUCH, [{ str: target }, 0o644], { syscall: 'open', path: target });
  } else {
    p.add(Op.MKDIR, [{ str: target }, 0o755], { syscall: 'mkdir', path: target });
  }
  if (isBind) {
    const bindFlags = MS.BIND | (o.flags & MS.REC);
    p.add(Op.MOUNT, [{ str: m.source! }, { str: target }, null, bindFlags, null], desc);
    const rest = o.flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
    if (rest)
      p.add(Op.MOUNT, [{ str: m.source! }, { str: target }, null, rest | MS.BIND | MS.REMOUNT, null], {
        ...desc,
        what: 'remount bind',
      });
  } else {
    p.add(
      Op.MOUNT,
      [{ str: m.source ?? type }, { str: target }, { str: type }, o.flags, o.data ? { str: o.data } : null],
      desc,
    );
  }
  if (o.propagation)
    p.add(Op.MOUNT, [null, { str: target }, null, o.propagation, null], { ...desc, what: 'set propagation' });
  if (m.destination === '/dev' && type === 'tmpfs') addDevices(p, target);
}

/** A minimal /dev: bind host nodes (mknod fails in a userns), the usual symlinks. */
function addDevices(p: OpProgram, dev: string): void {
  for (const d of DEVICES) {
    const t = `${dev}/${d}`;
    p.add(Op.TOUCH, [{ str: t }, 0o666], { syscall: 'open', path: t });
    p.add(Op.MOUNT, [{ str: `/dev/${d}` }, { str: t }, null, MS.BIND, null], {
      syscall: 'mount',
      path: t,
      what: 'bind device',
    });
  }
  const links: [string, string][] = [
    ['/proc/self/fd', 'fd'],
    ['/proc/self/fd/0', 'stdin'],
    ['/proc/self/fd/1', 'stdout'],
    ['/proc/self/fd/2', 'stderr'],
    ['pts/ptmx', 'ptmx'],
  ];
  for (const [to, name] of links)
    p.add(Op.SYMLINK, [{ str: to }, { str: `${dev}/${name}` }], {
      syscall: 'symlink',
      path: `${dev}/${name}`,
    });
}

export { MNT_DETACH };
