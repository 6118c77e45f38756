import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FloeError, FrameDecoder, readIntoOwnBuffer } from '@floe/contracts';
import { InstanceChannel } from './instance-channel.js';

/** Response headers ride in the same frame as the body; this much room is left for them. */
const HEADER_ROOM_BYTES = 64 * 1024;

/**
 * One unix socket per agent that every instance connects to. The socket's directory is
 * bind-mounted read-only into each container at /run/floe; an instance introduces itself
 * with the token it was started with, and the connection's arrival doubles as the
 * "runtime is up" signal, so nothing polls for readiness.
 */
export class ChannelServer {
  private readonly server: net.Server;
  private readonly waiting = new Map<
    string,
    { resolve: (c: InstanceChannel) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();

  /**
   * `maxBodyBytes` (FLOE_MAX_BODY_BYTES) bounds what an instance may answer: a frame past it
   * (plus room for headers) fails that call instead of growing the agent's memory.
   */
  constructor(
    readonly socketPath: string,
    private readonly maxBodyBytes?: number,
  ) {
    this.server = net.createServer({ pauseOnConnect: true }, (sock) => this.accept(sock));
  }

  get dir(): string {
    return path.dirname(this.socketPath);
  }

  async listen(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    rmSync(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => resolve());
    });
    // Containers run as remapped or unprivileged users: anyone who can see the socket may connect.
    chmodSync(this.socketPath, 0o666);
  }

  /** Resolves when an instance started with `token` connects. */
  expect(token: string, timeoutMs: number): Promise<InstanceChannel> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(
          new FloeError(
            'DEADLINE_EXCEEDED',
            `instance ${token}: runtime did not connect within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.waiting.set(token, { resolve, reject, timer });
    });
  }

  cancel(token: string, err: Error): void {
    const w = this.waiting.get(token);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiting.delete(token);
    w.reject(err);
  }

  /**
   * Reads the connection into a buffer of its own (own-buffer-socket.ts): until its hello,
   * copies of what arrives, from a peer that has not said who it is; then straight from the
   * buffer, into the channel of the instance it proved to be.
   */
  private accept(accepted: net.Socket): void {
    const decoder =
      this.maxBodyBytes === undefined
        ? new FrameDecoder('auto')
        : new FrameDecoder('auto', this.maxBodyBytes + HEADER_ROOM_BYTES);
    let onChunk = (chunk: Buffer) => onHello(Buffer.from(chunk));
    const sock = readIntoOwnBuffer(accepted, (chunk) => onChunk(chunk));
    sock.setNoDelay(true);
    const onHello = (chunk: Buffer) => {
      try {
        decoder.push(chunk, (f) => {
          if (f.header.t !== 'hello') throw new Error('first frame must be hello');
          const token = String(f.header.token ?? '');
          const w = this.waiting.get(token);
          if (!w) {
            onChunk = () => {};
            sock.destroy();
            return;
          }
          clearTimeout(w.timer);
          this.waiting.delete(token);
          const channel = new InstanceChannel(sock, decoder, this.maxBodyBytes);
          onChunk = (c) => channel.push(c, true);
          w.resolve(channel);
        });
      } catch {
        sock.destroy();
      }
    };
    sock.on('error', () => sock.destroy());
  }

  async close(): Promise<void> {
    for (const [token] of this.waiting)
      this.cancel(token, new FloeError('UNAVAILABLE', 'agent is shutting down'));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }
}
