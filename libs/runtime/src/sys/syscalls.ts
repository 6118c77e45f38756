/** The result of a clone3: the child blocks at its first OP_WAIT until `syncFd` gets a byte. */
export interface SpawnedChild {
  pid: number;
  pidfd: number;
  /** Write one byte per OP_WAIT in the program to release the child; close to abort it. */
  syncFd: number;
  /** Read end of the CLOEXEC status pipe: op-failure/ready records, EOF at execve. */
  statusFd: number;
}

/**
 * vfork+exec spawn: the child execs floe-init's setup stage from `initFd` at once and runs
 * the program there, so nothing of the caller's address space is copied. `keepFds` (the
 * program's stdio sources and `initFd`) stay open across that first exec.
 */
export interface SpawnExec {
  initFd: number;
  keepFds: number[];
}

/**
 * uid_map/gid_map text of a child in a new user namespace, written by the shim during the
 * spawn: an exec before they exist would drop every capability, so a vfork+exec child waits
 * for them (sharing the caller's memory meanwhile) and becomes root of its namespace first.
 */
export interface SpawnIdMaps {
  uidMap: string;
  gidMap: string;
}

/**
 * The FFI surface of the runtime (youki's `Syscall` trait). The koffi-backed implementation
 * lives in `ffi.ts`; tests inject a recording fake. Every method throws `SyscallError`.
 */
export interface Syscalls {
  /**
   * clone3(flags | CLONE_PIDFD [| CLONE_INTO_CGROUP when cgroupFd >= 0]) running `program`:
   * fork-style in the child, or in floe-init's setup stage with `exec`.
   */
  spawn(
    program: Buffer,
    cloneFlags: bigint,
    cgroupFd: number,
    exec?: SpawnExec,
    idMaps?: SpawnIdMaps,
  ): SpawnedChild;
  /** Starts the reaper thread (once); returns the fd of its 16-byte exit-record pipe. */
  reaperStart(): number;
  /** Watches `pidfd`; the exit record carries `token`. The caller keeps owning the fd. */
  reaperWatch(pidfd: number, token: number): void;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  /** pipe2(O_CLOEXEC): [read, write]. */
  pipe(): [number, number];
  /** mount(2) in the caller's (host) mount namespace. */
  mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
  ): void;
  umount2(target: string, flags: number): void;
  /**
   * An fd holding a fresh user namespace with these uid_map/gid_map texts (no process is
   * left in it): the id mapping for `mountIdmapped`. The caller closes it.
   */
  usernsFd(uidMap: string, gidMap: string): number;
  /** Attaches at `target` a clone of the mount tree at `source`, idmapped through `usernsFd`, plus MOUNT_ATTR_* `attr`. */
  mountIdmapped(source: string, target: string, usernsFd: number, attr: bigint): void;
  mkfifo(path: string, mode: number): void;
  /**
   * flock(LOCK_EX | LOCK_NB) on `fd` (opened from `path`, named in errors): false if another
   * open file holds the lock. The kernel drops it when the last fd of this open file closes,
   * so a process killed with -9 never leaves it taken.
   */
  tryLock(fd: number, path: string): boolean;
  /** A bound netlink socket (CLOEXEC); protocol 0 = NETLINK_ROUTE, 12 = NETLINK_NETFILTER. */
  netlinkOpen(protocol?: number): number;
  /** Sends one request and returns the (single-datagram) reply. */
  netlinkRequest(fd: number, msg: Buffer): Buffer;
}
