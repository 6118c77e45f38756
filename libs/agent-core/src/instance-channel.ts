import type net from 'node:net';
import {
  DeadlineTimer,
  encodeFrame,
  FloeError,
  type Frame,
  type FrameDecoder,
  FrameTooLargeError,
  frameParts,
  writeFrame,
} from '@floe/contracts';

export interface ChannelRequest {
  callId: string;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  deadline?: number;
}

export interface ChannelResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Time the runtime spent in the handler, as it measured it. */
  functionUs: number;
}

export interface LoadRequest {
  name: string;
  handler: string;
  env: Record<string, string>;
  codeDir: string;
  /** Image functions that serve HTTP: the watchdog starts `argv` once and proxies to this port. */
  httpPort?: number;
  /** The image's Entrypoint + Cmd, run without a shell; `sh -c handler` when absent or empty. */
  argv?: string[];
  /** The image's `User` (`name`, `uid`, `name:group`), looked up in the image's own /etc files. */
  user?: string;
  /** More loopback ports that must accept connections before the server counts as ready. */
  waitPorts?: number[];
}

type Pending = {
  resolve: (r: ChannelResponse) => void;
  reject: (e: Error) => void;
  /** Date.now() past which the call fails with ChannelTimeoutError; Infinity for none. */
  deadline: number;
};

/** A call got no response by its deadline; the pool kills the instance and says which function. */
export class ChannelTimeoutError extends FloeError {
  constructor(readonly deadline: number) {
    super('DEADLINE_EXCEEDED', 'no response from the instance by the deadline', { fault: 'user' });
  }
}

/** An instance answered with more than FLOE_MAX_BODY_BYTES; the pool replaces it. */
export class ResponseTooLargeError extends FloeError {
  constructor(bytes: number, limitBytes: number | undefined) {
    super(
      'FUNCTION_FAILED',
      `response of ${bytes} bytes is over the invoke channel's limit of ${limitBytes ?? '?'} bytes (FLOE_MAX_BODY_BYTES)`,
      { fault: 'user', details: { bytes, limitBytes } },
    );
  }
}

/**
 * The agent's end of one instance's invoke channel. Calls are matched to responses by id,
 * so an instance with max concurrency above 1 can answer out of order.
 */
export class InstanceChannel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private loading?: { resolve: (ok: unknown, error?: string) => void; reject: (e: Error) => void };
  private closedErr?: Error;
  private readonly closeHandlers: Array<(err: Error) => void> = [];
  private readonly deadlines = new DeadlineTimer((now) => this.expire(now));
  private readonly frameHandler = (f: Frame) => this.onFrame(f);

  constructor(
    private readonly sock: net.Socket,
    private readonly decoder: FrameDecoder,
    private readonly maxBodyBytes?: number,
  ) {
    sock.on('close', () => this.fail(new FloeError('UNAVAILABLE', 'instance connection closed')));
  }

  /**
   * What the instance sent, as the channel server reads it. `transient`: `chunk` is the
   * connection's read buffer, reused after this call (own-buffer-socket.ts).
   */
  push(chunk: Buffer, transient: boolean): void {
    try {
      this.decoder.push(chunk, this.frameHandler, transient);
    } catch (err) {
      // The stream can't be resynchronized: the pending calls fail, saying why if we know.
      if (err instanceof FrameTooLargeError)
        this.fail(new ResponseTooLargeError(err.bytes, this.maxBodyBytes));
      this.sock.destroy(err as Error);
    }
  }

  get format() {
    return this.decoder.format === 'kv' ? 'kv' : 'json';
  }

  get inflight(): number {
    return this.pending.size;
  }

  /** Specializes the runtime: loads a function's handler without restarting the process. */
  load(req: LoadRequest, timeoutMs = 10_000): Promise<void> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new FloeError('DEADLINE_EXCEEDED', `loading ${req.name}: no answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.loading = {
        resolve: (ok: unknown, error?: string) => {
          clearTimeout(timer);
          if (ok === true || ok === 'true') resolve();
          else
            reject(new FloeError('STARTUP', `loading ${req.name}: ${error ?? 'failed'}`, { fault: 'user' }));
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.sock.write(encodeFrame({ t: 'load', ...req }, undefined, this.format));
    });
  }

  /** Sends a call; it fails with ChannelTimeoutError if no response comes by `req.deadline`. */
  invoke(req: ChannelRequest, body: Buffer): Promise<ChannelResponse> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    const id = this.nextId++;
    const deadline = req.deadline ?? Number.POSITIVE_INFINITY;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, deadline });
      this.deadlines.arm(deadline);
      writeFrame(this.sock, frameParts({ t: 'inv', id, ...req }, body, this.format));
    });
  }

  /** Fails the calls past their deadline; returns the next deadline still pending. */
  private expire(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const [id, p] of this.pending) {
      if (p.deadline > now) next = Math.min(next, p.deadline);
      else {
        this.pending.delete(id);
        p.reject(new ChannelTimeoutError(p.deadline));
      }
    }
    return next;
  }

  onClose(fn: (err: Error) => void): void {
    if (this.closedErr) fn(this.closedErr);
    else this.closeHandlers.push(fn);
  }

  close(): void {
    this.sock.destroy();
  }

  private onFrame(f: Frame): void {
    const h = f.header;
    if (h.t === 'res') {
      const p = this.pending.get(Number(h.id));
      if (!p) return;
      this.pending.delete(Number(h.id));
      p.resolve({
        status: Number(h.status),
        headers: (h.headers as Record<string, string>) ?? {},
        body: f.body,
        functionUs: Number(h.us ?? 0),
      });
    } else if (h.t === 'loaded') {
      const l = this.loading;
      this.loading = undefined;
      l?.resolve(h.ok, h.error === undefined ? undefined : String(h.error));
    }
  }

  private fail(err: Error): void {
    if (this.closedErr) return;
    this.closedErr = err;
    this.deadlines.clear();
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.loading?.reject(err);
    this.loading = undefined;
    for (const fn of this.closeHandlers) fn(err);
  }
}
