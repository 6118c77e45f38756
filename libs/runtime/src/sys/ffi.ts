import { SyscallError } from '@floe/contracts';
import koffi from 'koffi';
import { ensureNative, SHIM_LIB } from './native.js';
import type { SpawnExec, SpawnedChild, SpawnIdMaps, Syscalls } from './syscalls.js';

interface Shim {
  spawn: (
    prog: Buffer,
    len: number,
    flags: bigint,
    cgroupFd: number,
    initFd: number,
    keep: Int32Array,
    nkeep: number,
    uidMap: string | null,
    gidMap: string | null,
    out: Int32Array,
  ) => number;
  reaperStart: () => number;
  reaperWatch: (pidfd: number, token: number) => number;
  pidfdOpen: (pid: number) => number;
  pidfdSendSignal: (pidfd: number, sig: number) => number;
  pipe: (out: Int32Array) => number;
  mount: (src: string | null, tgt: string, type: string | null, flags: number, data: string | null) => number;
  umount2: (tgt: string, flags: number) => number;
  mkfifo: (path: string, mode: number) => number;
  flockTry: (fd: number) => number;
  nlOpen: (protocol: number) => number;
  nlSend: (fd: number, buf: Buffer, len: number) => number;
  nlRecv: (fd: number, buf: Buffer, len: number) => number;
  usernsFd: (uidMap: string, gidMap: string) => number;
  mountIdmapped: (src: string, tgt: string, usernsFd: number, attr: bigint) => number;
}

let shim: Shim | undefined;

function load(): Shim {
  if (shim) return shim;
  ensureNative();
  const lib = koffi.load(SHIM_LIB);
  shim = {
    spawn: lib.func(
      'int floe_spawn(void *prog, uint32_t len, uint64_t flags, int cgroup_fd, int init_fd, const int32_t *keep, uint32_t nkeep, const char *uid_map, const char *gid_map, _Out_ int32_t *out)',
    ),
    reaperStart: lib.func('int floe_reaper_start(void)'),
    reaperWatch: lib.func('int floe_reaper_watch(int pidfd, uint32_t token)'),
    pidfdOpen: lib.func('int floe_pidfd_open(int pid)'),
    pidfdSendSignal: lib.func('int floe_pidfd_send_signal(int pidfd, int sig)'),
    pipe: lib.func('int floe_pipe(_Out_ int32_t *out)'),
    mount: lib.func(
      'int floe_mount(const char *src, const char *tgt, const char *type, unsigned long flags, const char *data)',
    ),
    umount2: lib.func('int floe_umount2(const char *tgt, int flags)'),
    mkfifo: lib.func('int floe_mkfifo(const char *path, unsigned int mode)'),
    flockTry: lib.func('int floe_flock_try(int fd)'),
    nlOpen: lib.func('int floe_nl_open(int protocol)'),
    nlSend: lib.func('int floe_nl_send(int fd, const void *buf, uint32_t len)'),
    nlRecv: lib.func('int floe_nl_recv(int fd, _Out_ void *buf, uint32_t len)'),
    usernsFd: lib.func('int floe_userns_fd(const char *uid_map, const char *gid_map)'),
    mountIdmapped: lib.func(
      'int floe_mount_idmapped(const char *src, const char *tgt, int userns_fd, uint64_t attr)',
    ),
  } as unknown as Shim;
  return shim;
}

const SPAWN_STEPS: [string, string][] = [
  ['clone3', 'clone'],
  ['write', 'write uid_map'],
  ['write', 'write gid_map'],
  ['execveat', 'exec floe-init setup stage'],
];

const EWOULDBLOCK = 11;

function check(r: number, syscall: string, what?: string): number {
  if (r < 0) throw new SyscallError(syscall, -r, undefined, what);
  return r;
}

/** The real, koffi-backed `Syscalls`. The shim loads (and compiles if needed) on first use. */
export class NativeSyscalls implements Syscalls {
  spawn(
    program: Buffer,
    cloneFlags: bigint,
    cgroupFd: number,
    exec?: SpawnExec,
    idMaps?: SpawnIdMaps,
  ): SpawnedChild {
    const out = new Int32Array(3);
    const keep = Int32Array.from(exec?.keepFds ?? []);
    const r = load().spawn(
      program,
      program.length,
      cloneFlags,
      cgroupFd,
      exec?.initFd ?? -1,
      keep,
      keep.length,
      idMaps?.uidMap ?? null,
      idMaps?.gidMap ?? null,
      out,
    );
    if (r < 0) {
      // -(errno + 4096 * step): which step of the spawn failed (floe-shim.c SPAWN_STEP_*).
      const [syscall, what] = SPAWN_STEPS[Math.min(-r >> 12, 3)]!;
      throw new SyscallError(syscall, -r & 4095, undefined, `spawn container: ${what}`);
    }
    return { pid: r, pidfd: out[0]!, syncFd: out[1]!, statusFd: out[2]! };
  }
  reaperStart(): number {
    return check(load().reaperStart(), 'pthread_create', 'start reaper');
  }
  reaperWatch(pidfd: number, token: number): void {
    check(load().reaperWatch(pidfd, token), 'epoll_ctl', 'watch pidfd');
  }
  pidfdOpen(pid: number): number {
    return check(load().pidfdOpen(pid), 'pidfd_open');
  }
  pidfdSendSignal(pidfd: number, signal: number): void {
    check(load().pidfdSendSignal(pidfd, signal), 'pidfd_send_signal');
  }
  mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
  ): void {
    const r = load().mount(source, target, fstype, flags, data);
    if (r < 0) throw new SyscallError('mount', -r, target);
  }
  umount2(target: string, flags: number): void {
    const r = load().umount2(target, flags);
    if (r < 0) throw new SyscallError('umount2', -r, target);
  }
  mkfifo(path: string, mode: number): void {
    const r = load().mkfifo(path, mode);
    if (r < 0) throw new SyscallError('mkfifo', -r, path);
  }
  tryLock(fd: number, path: string): boolean {
    const r = load().flockTry(fd);
    if (r === -EWOULDBLOCK) return false;
    if (r < 0) throw new SyscallError('flock', -r, path);
    return true;
  }
  netlinkOpen(protocol = 0): number {
    return check(load().nlOpen(protocol), 'socket', 'open netlink');
  }
  netlinkRequest(fd: number, msg: Buffer): Buffer {
    check(load().nlSend(fd, msg, msg.length), 'sendto', 'rtnetlink request');
    const buf = Buffer.alloc(65536);
    const n = check(load().nlRecv(fd, buf, buf.length), 'recv', 'rtnetlink reply');
    return buf.subarray(0, n);
  }
  usernsFd(uidMap: string, gidMap: string): number {
    return check(load().usernsFd(uidMap, gidMap), 'clone', 'user namespace for id maps');
  }
  mountIdmapped(source: string, target: string, usernsFd: number, attr: bigint): void {
    const r = load().mountIdmapped(source, target, usernsFd, attr);
    if (r < 0) {
      const step = Math.floor(-r / 4096);
      const syscall = ['open_tree', 'mount_setattr', 'move_mount'][step] ?? 'open_tree';
      throw new SyscallError(syscall, -r % 4096, step === 0 ? source : target, `idmapped mount of ${source}`);
    }
  }
  pipe(): [number, number] {
    const out = new Int32Array(2);
    check(load().pipe(out), 'pipe2');
    return [out[0]!, out[1]!];
  }
}
