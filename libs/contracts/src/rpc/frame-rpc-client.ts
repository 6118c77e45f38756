import net from 'node:net';
import tls from 'node:tls';
import { FloeError, isSerializedError, reviveError } from '../errors.js';
import type { ClusterTls } from '../pki/cluster-pki.js';
import { clientHandshake, type Handshake, isLoopback } from '../pki/loopback-auth.js';
import { clientTlsOptions } from '../pki/peer-auth.js';
import { DeadlineTimer } from './deadline-timer.js';
import { liftBody, restoreBody } from './frame-body.js';
import { type Frame, FrameDecoder, frameParts, writeFrame } from './frame-codec.js';
import type { RpcReply } from './frame-rpc.types.js';

// Large answers arrive in fewer reads (each one a callback and a copy out of this buffer).
const READ_BUFFER_BYTES = 256 * 1024;

/** The peer could not be reached, or the connection dropped under a pending call. */
export class RpcConnectionError extends FloeError {
  constructor(message: string, cause?: unknown) {
    super('UNAVAILABLE', message, { cause, details: { connection: true } });
  }
}

/** No answer within the call's timeout; the connection may still be fine. */
export class RpcTimeoutError extends FloeError {
  constructor(message: string, timeoutMs: number) {
    super('DEADLINE_EXCEEDED', message, { details: { timeoutMs } });
  }
}

interface Pending {
  socket: net.Socket;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** Date.now() past which the call fails with RpcTimeoutError. */
  deadline: number;
  pattern: string;
  timeoutMs: number;
}

/** Where a FrameRpcClient dials: a host and port, or a unix socket on this host. */
export type FrameRpcAddress = { host: string; port: number } | { path: string };

export interface FrameRpcClientOptions {
  /**
   * Authenticate with the cluster's PKI, as every Floe listener requires: to a loopback
   * address or a unix socket, the HMAC handshake of loopback-auth.ts; to any other, mutual
   * TLS with the cluster CA. One handshake per connection, and the connection lives on.
   */
  tls?: ClusterTls;
  /** Mutual TLS even to a loopback address (tests; measuring what TLS would cost there). */
  forceTls?: boolean;
}

/**
 * The client side of the invoke fast path (see FrameRpcServer): one connection, opened on
 * the first call and again after it drops, many calls multiplexed on it. Promises, not
 * observables; remote errors come back as FloeErrors with their own codes.
 */
export class FrameRpcClient {
  private socket?: net.Socket;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly deadlines = new DeadlineTimer((now) => this.expire(now));
  readonly where: string;

  private readonly tls?: tls.ConnectionOptions;
  private readonly loopbackKey?: Buffer;
  /** Frames written while the loopback handshake of the current connection is not done. */
  private held?: Buffer[][];

  constructor(
    private readonly address: FrameRpcAddress,
    opts: FrameRpcClientOptions = {},
  ) {
    const local = 'path' in address;
    this.where = local ? address.path : `${address.host}:${address.port}`;
    if (opts.tls && (local || (isLoopback(address.host) && !opts.forceTls)))
      this.loopbackKey = opts.tls.loopbackKey;
    else if (opts.tls) this.tls = clientTlsOptions(opts.tls);
  }

  call<T>(pattern: string, data: unknown, timeoutMs: number): Promise<T> {
    const socket = this.socket ?? this.connect();
    const i = this.nextId++;
    const deadline = Date.now() + timeoutMs;
    return new Promise<T>((resolve, reject) => {
      // A pending call keeps the process alive, as a timer per call did; an idle client doesn't.
      if (this.pending.size === 0) socket.ref();
      this.pending.set(i, {
        socket,
        resolve: resolve as (v: unknown) => void,
        reject,
        deadline,
        pattern,
        timeoutMs,
      });
      this.deadlines.arm(deadline);
      const { d, body, b } = liftBody(data);
      const frame = frameParts(b ? { i, p: pattern, d, b } : { i, p: pattern, d }, body);
      if (this.held) this.held.push(frame);
      else writeFrame(socket, frame);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  /** Fails the calls past their deadline; returns the next deadline still pending. */
  private expire(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const [i, p] of this.pending) {
      if (p.deadline > now) {
        next = Math.min(next, p.deadline);
        continue;
      }
      this.forget(i, p);
      p.reject(
        new RpcTimeoutError(`${p.pattern} to ${this.where}: no answer within ${p.timeoutMs} ms`, p.timeoutMs),
      );
    }
    return next;
  }

  private forget(i: number, p: Pending): void {
    this.pending.delete(i);
    if (this.pending.size === 0 && !p.socket.destroyed) p.socket.unref();
  }

  private connect(): net.Socket {
    const decoder = new FrameDecoder('json');
    const settle = (f: Frame) => this.settle(f.header as unknown as RpcReply, f.body);
    let handshake: Handshake | undefined;
    // `onread` reads into one reused buffer, past the Readable stream a 'data' listener costs:
    // ~4 µs less per answer here. The decoder copies what must outlive the callback.
    const options = {
      ...this.address,
      noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
        callback: (n: number, buf: Uint8Array) => {
          try {
            const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
            if (handshake) {
              if (!handshake.push(chunk)) return true;
              const rest = handshake.rest();
              handshake = undefined;
              this.release(socket);
              if (rest.length) decoder.push(rest, settle);
              return true;
            }
            decoder.push(chunk, settle, true);
          } catch (err) {
            socket.destroy(err as Error);
          }
          return true;
        },
      },
    };
    // Calls written before the handshake is done wait in the TLS socket until it is, or in
    // `held` until the loopback handshake is.
    const socket: net.Socket = this.tls
      ? tls.connect({ ...this.tls, ...(options as tls.ConnectionOptions) })
      : net.connect(options as net.NetConnectOpts);
    if (this.loopbackKey) {
      this.held = [];
      handshake = clientHandshake(socket, this.loopbackKey, (reason) =>
        socket.destroy(new Error(`peer authentication failed: ${reason}`)),
      );
    }
    // Ref'd only while calls are pending (see call/forget): an idle connection must not keep the process alive.
    socket.unref();
    this.socket = socket;
    socket.on('error', (err) => this.drop(socket, err));
    socket.on('close', () => this.drop(socket));
    return socket;
  }

  /** The loopback handshake of `socket` is done: what was held goes out, the rest directly. */
  private release(socket: net.Socket): void {
    if (this.socket !== socket) return;
    const held = this.held ?? [];
    this.held = undefined;
    for (const f of held) writeFrame(socket, f);
  }

  private settle(reply: RpcReply, body: Buffer): void {
    const p = this.pending.get(reply.i);
    if (!p) return; // timed out already
    this.forget(reply.i, p);
    if (reply.e === undefined) p.resolve(restoreBody(reply.r, body, reply.b));
    else
      p.reject(
        isSerializedError(reply.e) ? reviveError(reply.e) : new FloeError('INTERNAL', String(reply.e)),
      );
  }

  /** The connection is gone: every call on it fails now, the next call reconnects. */
  private drop(socket: net.Socket, err?: Error): void {
    // Closed while the loopback handshake was pending: say what usually causes it.
    const unauthenticated = this.socket === socket && this.held !== undefined && !err;
    if (this.socket === socket) {
      this.socket = undefined;
      this.held = undefined;
    }
    socket.destroy();
    const code = unauthenticated
      ? 'closed during the loopback handshake: another cluster CA, or the port speaks TLS only (it is bound to a non-loopback address: dial that address)'
      : (err as NodeJS.ErrnoException | undefined)?.code;
    for (const [i, p] of this.pending) {
      if (p.socket !== socket) continue; // a call already on the next connection
      this.forget(i, p);
      p.reject(
        new RpcConnectionError(`rpc to ${this.where}: ${code ?? err?.message ?? 'connection closed'}`, err),
      );
    }
  }
}
