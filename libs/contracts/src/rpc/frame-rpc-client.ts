import net from 'node:net';
import { FloeError, isSerializedError, reviveError } from '../errors.js';
import { encodeFrame, FrameDecoder } from './frame-codec.js';
import type { RpcReply } from './frame-rpc.types.js';

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
  timer: NodeJS.Timeout;
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
  readonly where: string;

  constructor(private readonly address: { host: string; port: number }) {
    this.where = `${address.host}:${address.port}`;
  }

  call<T>(pattern: string, data: unknown, timeoutMs: number): Promise<T> {
    const socket = this.socket ?? this.connect();
    const i = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(i);
        reject(
          new RpcTimeoutError(`${pattern} to ${this.where}: no answer within ${timeoutMs} ms`, timeoutMs),
        );
      }, timeoutMs);
      this.pending.set(i, { socket, resolve: resolve as (v: unknown) => void, reject, timer });
      socket.write(encodeFrame({ i, p: pattern, d: data }));
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connect(): net.Socket {
    const socket = net.connect({ host: this.address.host, port: this.address.port, noDelay: true });
    // Pending calls hold their timers; an idle connection must not keep the process alive.
    socket.unref();
    this.socket = socket;
    const decoder = new FrameDecoder('json');
    socket.on('data', (chunk) => {
      try {
        decoder.push(chunk, (f) => this.settle(f.header as unknown as RpcReply));
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', (err) => this.drop(socket, err));
    socket.on('close', () => this.drop(socket));
    return socket;
  }

  private settle(reply: RpcReply): void {
    const p = this.pending.get(reply.i);
    if (!p) return; // timed out already
    this.pending.delete(reply.i);
    clearTimeout(p.timer);
    if (reply.e === undefined) p.resolve(reply.r);
    else
      p.reject(
        isSerializedError(reply.e) ? reviveError(reply.e) : new FloeError('INTERNAL', String(reply.e)),
      );
  }

  /** The connection is gone: every call on it fails now, the next call reconnects. */
  private drop(socket: net.Socket, err?: Error): void {
    if (this.socket === socket) this.socket = undefined;
    socket.destroy();
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    for (const [i, p] of this.pending) {
      if (p.socket !== socket) continue; // a call already on the next connection
      this.pending.delete(i);
      clearTimeout(p.timer);
      p.reject(
        new RpcConnectionError(`rpc to ${this.where}: ${code ?? err?.message ?? 'connection closed'}`, err),
      );
    }
  }
}
