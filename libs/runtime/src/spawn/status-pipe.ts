import fs from 'node:fs';
import net from 'node:net';

export type StatusEvent =
  | { kind: 'ready' }
  | { kind: 'failed'; index: number; errno: number }
  | { kind: 'eof' };

/**
 * Reads the child's CLOEXEC status pipe: 8-byte {op index, errno} records ({-1, 0} =
 * READY; index -2 = the setup stage could not load the program) and EOF once floe-init runs
 * as PID 1 (the setup stage closed every fd from 3 up, or the execveat did) or the child died.
 */
export class StatusPipe {
  private readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private eof = false;
  private waiter?: () => void;

  constructor(fd: number) {
    this.socket = new net.Socket({ fd, readable: true, writable: false });
    this.socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    this.socket.on('end', () => {
      this.eof = true;
      this.waiter?.();
    });
    this.socket.on('error', () => {
      this.eof = true;
      this.waiter?.();
    });
  }

  async next(): Promise<StatusEvent> {
    for (;;) {
      if (this.buf.length >= 8) {
        const index = this.buf.readInt32LE(0);
        const errno = this.buf.readInt32LE(4);
        this.buf = this.buf.subarray(8);
        return index === -1 ? { kind: 'ready' } : { kind: 'failed', index, errno };
      }
      if (this.eof) return { kind: 'eof' };
      await new Promise<void>((r) => {
        this.waiter = r;
      });
      this.waiter = undefined;
    }
  }

  close(): void {
    this.socket.destroy();
    this.eof = true;
    this.waiter?.();
  }
}

/** Closes an fd we own, ignoring EBADF (idempotent cleanup). */
export function closeFd(fd: number | undefined): void {
  if (fd === undefined || fd < 0) return;
  try {
    fs.closeSync(fd);
  } catch {}
}
