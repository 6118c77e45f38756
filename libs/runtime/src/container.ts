import { EventEmitter } from 'node:events';
import { closeSync, constants, writeSync as fsWriteSync, openSync } from 'node:fs';
import os from 'node:os';
import { FailedPreconditionError, InvalidArgumentError, SyscallError } from '@floe/contracts';
import type { ContainerCgroup } from './cgroups/container-cgroup.js';
import type { CgroupStats } from './cgroups/types.js';
import { ContainerStateMachine, type ContainerStatus, can } from './container-state.js';
import type { ContainerNet } from './net/bridge.js';
import { CLD_DUMPED, CLD_EXITED, CLD_KILLED, type RawExit } from './reaper.js';
import type { OpProgram } from './spawn/op-program.js';
import { closeFd, type StatusPipe } from './spawn/status-pipe.js';
import { toSyscallError } from './sys/fs-errors.js';
import type { Syscalls } from './sys/syscalls.js';

/** How a container's init ended. */
export type ExitStatus =
  | { reason: 'exited'; code: number }
  | { reason: 'signaled'; signal: NodeJS.Signals | number }
  | { reason: 'OOMKilled' }
  | { reason: 'timeout' };

/**
 * A container created by a `Runtime`. Lifecycle: created (init waits before exec) →
 * `start()` → running ⇄ paused (`freeze`/`thaw`) → stopped (the reaper saw init exit) →
 * deleted (`Runtime.delete`). Emits `transition(from, to)` and `exit(ExitStatus)`.
 */
export interface Container {
  readonly id: string;
  readonly pid: number;
  readonly status: ContainerStatus;
  start(): Promise<void>;
  /** Resolves once the kernel reports the whole cgroup frozen. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** `thaw` done in the call: the kernel wakes the tasks before the write returns. */
  thawSync(): void;
  /** Signals init (which forwards to the payload). `reason: 'timeout'` makes the exit a timeout. */
  kill(signal?: NodeJS.Signals | number, opts?: { reason?: 'timeout' }): Promise<void>;
  /** SIGKILL to every process in the container's cgroup. */
  killAll(): Promise<void>;
  /** Resolves once, when the reaper reports init's exit. */
  wait(): Promise<ExitStatus>;
  stats(): Promise<CgroupStats>;
  /** Shrinks or restores memory.max (v1 limit_in_bytes); `'max'` removes the limit. */
  setMemoryLimit(bytes: number | 'max'): Promise<void>;
  on(event: 'transition' | 'exit', fn: (...a: any[]) => void): this;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(os.constants.signals).map(([k, v]) => [v, k as NodeJS.Signals]),
);

export function signalNumber(s: NodeJS.Signals | number): number {
  if (typeof s === 'number') return s;
  const n = (os.constants.signals as Record<string, number>)[s];
  if (n === undefined) throw new InvalidArgumentError('signal', `unknown signal ${s}`);
  return n;
}

/** Runtime-internal handles of a live container. */
export interface ContainerHandles {
  pid: number;
  pidfd: number;
  syncFd: number;
  status: StatusPipe;
  program: OpProgram;
}

export class ContainerImpl extends EventEmitter implements Container {
  readonly machine: ContainerStateMachine;
  private exitStatus?: ExitStatus;
  private readonly exited: Promise<ExitStatus>;
  private resolveExit!: (e: ExitStatus) => void;
  private timeoutKill = false;
  private oomBaseline = 0;
  pidfd = -1;
  syncFd = -1;
  statusPipe?: StatusPipe;
  program?: OpProgram;
  pid = 0;
  /** Bridge attachment, when created with `network: 'bridge'`. */
  network?: ContainerNet;
  /** exec.fifo the init waits on when created with `execFifo`. */
  execFifo?: string;
  /** Set by the runtime to persist the running state after `start()`. */
  onStarted?: () => void;

  constructor(
    readonly id: string,
    private readonly sys: Syscalls,
    readonly cgroup: ContainerCgroup,
  ) {
    super();
    this.machine = new ContainerStateMachine(id);
    this.machine.on('transition', (from, to) => this.emit('transition', from, to));
    this.exited = new Promise((r) => {
      this.resolveExit = r;
    });
  }

  get status(): ContainerStatus {
    return this.machine.status;
  }

  attach(h: ContainerHandles): void {
    this.pid = h.pid;
    this.pidfd = h.pidfd;
    this.syncFd = h.syncFd;
    this.statusPipe = h.status;
    this.program = h.program;
  }

  /** Releases one OP_WAIT per byte. */
  release(count: number): void {
    // Already closed: the child exited (the reaper's report can land while the parent awaits
    // its cgroup attach) and its status pipe says why.
    if (this.syncFd < 0) return;
    try {
      writeAll(this.syncFd, Buffer.alloc(count, 1));
    } catch (err) {
      // EPIPE: the child already failed or died; its status pipe says why.
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw toSyscallError(err, 'write', undefined, `release container ${this.id}`);
    }
  }

  /** Turns a status-pipe failure record into a SyscallError naming the op. */
  opError(index: number, errno: number): SyscallError {
    const d =
      index === -2
        ? { syscall: 'mmap', path: undefined, what: 'load op program in floe-init setup' }
        : this.program?.describe(index);
    return new SyscallError(
      d?.syscall ?? `op#${index}`,
      errno,
      d?.path,
      `create container ${this.id}${d?.what ? `: ${d.what}` : ''}`,
    );
  }

  async start(): Promise<void> {
    if (!can.start(this.status))
      throw new FailedPreconditionError(`container ${this.id}: cannot start from ${this.status}`);
    if (this.execFifo) writeFifo(this.execFifo);
    else this.release(1);
    await this.awaitExec();
    this.markRunning();
    this.onStarted?.();
  }

  /** The payload may already have exited (and the reaper moved us to stopped) by now. */
  markRunning(): void {
    if (this.status === 'created') this.machine.transition('running');
  }

  /** Waits for the status pipe to hit EOF (execveat succeeded) or a failure record. */
  async awaitExec(): Promise<void> {
    const ev = await this.statusPipe!.next();
    this.statusPipe!.close();
    this.statusPipe = undefined;
    closeFd(this.syncFd);
    this.syncFd = -1;
    if (ev.kind === 'failed') throw this.opError(ev.index, ev.errno);
    if (ev.kind === 'ready')
      throw new FailedPreconditionError(`container ${this.id}: unexpected ready record`);
  }

  async freeze(): Promise<void> {
    if (!can.pause(this.status))
      throw new FailedPreconditionError(`container ${this.id}: cannot pause from ${this.status}`);
    await this.cgroup.freezer.freeze();
    this.machine.transition('paused');
  }

  async thaw(): Promise<void> {
    this.thawSync();
  }

  /** `thaw` without a promise, for the invoke path: the kernel's thaw completes in the write. */
  thawSync(): void {
    if (!can.resume(this.status))
      throw new FailedPreconditionError(`container ${this.id}: cannot resume from ${this.status}`);
    this.cgroup.freezer.thawSync();
    this.machine.transition('running');
  }

  async kill(signal: NodeJS.Signals | number = 'SIGTERM', opts: { reason?: 'timeout' } = {}): Promise<void> {
    if (!can.kill(this.status))
      throw new FailedPreconditionError(`container ${this.id}: cannot kill from ${this.status}`);
    if (opts.reason === 'timeout') this.timeoutKill = true;
    this.sys.pidfdSendSignal(this.pidfd, signalNumber(signal));
  }

  async killAll(): Promise<void> {
    if (this.status === 'stopped' || this.status === 'deleted') return;
    await this.cgroup.killAll();
  }

  wait(): Promise<ExitStatus> {
    return this.exited;
  }

  get exit(): ExitStatus | undefined {
    return this.exitStatus;
  }

  async stats(): Promise<CgroupStats> {
    return this.cgroup.stats();
  }

  async setMemoryLimit(bytes: number | 'max'): Promise<void> {
    if (bytes !== 'max' && (!Number.isSafeInteger(bytes) || bytes < 0))
      throw new InvalidArgumentError('bytes', 'must be a non-negative integer or max');
    this.cgroup.resources.setMemoryLimit(bytes);
  }

  /** Called by the reaper with init's raw exit. */
  onExit(raw: RawExit): void {
    const status = this.classify(raw);
    this.exitStatus = status;
    closeFd(this.pidfd);
    this.pidfd = -1;
    closeFd(this.syncFd);
    this.syncFd = -1;
    // The status pipe is left to its reader: it hits EOF on its own now that the child is
    // gone, and closing it here would lose a failure record or strand an awaitExec().
    if (this.status !== 'stopped' && this.status !== 'deleted') this.machine.transition('stopped');
    this.resolveExit(status);
    this.emit('exit', status);
  }

  private classify(raw: RawExit): ExitStatus {
    if (this.timeoutKill) return { reason: 'timeout' };
    let oom = 0;
    try {
      oom = this.cgroup.resources.oomKills();
    } catch {}
    if (oom > this.oomBaseline) return { reason: 'OOMKilled' };
    if (raw.code === CLD_KILLED || raw.code === CLD_DUMPED)
      return { reason: 'signaled', signal: SIGNAL_NAMES.get(raw.status) ?? raw.status };
    if (raw.code === CLD_EXITED) {
      // floe-init encodes a payload's signal death as 128+signal (PID 1 cannot re-raise it).
      if (raw.status > 128 && raw.status <= 128 + 64) {
        const sig = raw.status - 128;
        return { reason: 'signaled', signal: SIGNAL_NAMES.get(sig) ?? sig };
      }
      return { reason: 'exited', code: raw.status };
    }
    return { reason: 'exited', code: -1 };
  }
}

function writeAll(fd: number, b: Buffer): void {
  let off = 0;
  while (off < b.length) off += fsWriteSync(fd, b, off, b.length - off);
}

/** Releases a container waiting on its exec.fifo; ENXIO means nobody is waiting on it. */
export function writeFifo(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw toSyscallError(err, 'open', path, 'start container');
  }
  try {
    writeAll(fd, Buffer.from([1]));
  } finally {
    closeSync(fd);
  }
}
