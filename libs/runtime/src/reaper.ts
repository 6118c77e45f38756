import net from 'node:net';
import type { Syscalls } from './sys/syscalls.js';

/** A raw exit as waitid() saw it: si_code (CLD_*) and si_status. */
export interface RawExit {
  code: number;
  status: number;
  pid: number;
}

export const CLD_EXITED = 1;
export const CLD_KILLED = 2;
export const CLD_DUMPED = 3;

const RECORD = 16;

/**
 * Node side of the shim's reaper thread: one net.Socket on its record pipe dispatches each
 * 16-byte {token, si_code, si_status, pid} record to the watcher with that token. The
 * socket is ref'd only while something is watched, so an idle runtime lets Node exit.
 */
export class Reaper {
  /** The shim has one reaper thread and one record pipe per process: share its reader. */
  private static readonly byFd = new Map<number, Reaper>();

  static shared(sys: Syscalls): Reaper {
    const fd = sys.reaperStart();
    let r = Reaper.byFd.get(fd);
    if (!r) {
      r = new Reaper(sys, fd);
      Reaper.byFd.set(fd, r);
    }
    return r;
  }

  private socket?: net.Socket;
  private pending: Buffer = Buffer.alloc(0);
  private readonly watchers = new Map<number, (e: RawExit) => void>();
  private nextToken = 1;

  private constructor(
    private readonly sys: Syscalls,
    private readonly fd: number,
  ) {}

  watch(pidfd: number, onExit: (e: RawExit) => void): void {
    if (!this.socket) {
      const fd = this.fd;
      this.socket = new net.Socket({ fd, readable: true, writable: false });
      this.socket.on('data', (d) => this.onData(d));
      this.socket.unref();
    }
    const token = this.nextToken++ >>> 0 || this.nextToken++;
    this.watchers.set(token, onExit);
    this.sys.reaperWatch(pidfd, token);
    if (this.watchers.size === 1) this.socket.ref();
  }

  private onData(d: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    let off = 0;
    for (; off + RECORD <= this.pending.length; off += RECORD) {
      const token = this.pending.readUInt32LE(off);
      const e = {
        code: this.pending.readInt32LE(off + 4),
        status: this.pending.readInt32LE(off + 8),
        pid: this.pending.readInt32LE(off + 12),
      };
      const fn = this.watchers.get(token);
      this.watchers.delete(token);
      fn?.(e);
    }
    this.pending = this.pending.subarray(off);
    if (this.watchers.size === 0) this.socket?.unref();
  }
}
