import net from 'node:net';
import tls from 'node:tls';
import { FloeError, type SerializedError } from '../errors.js';
import type { ClusterTls } from '../pki/cluster-pki.js';
import { countUnauthenticated, serverTlsOptions } from '../pki/peer-auth.js';
import { encodeFrame, FrameDecoder } from './frame-codec.js';
import type { RpcReply, RpcRequest } from './frame-rpc.types.js';

export type RpcHandler = (data: never) => unknown;

export interface FrameRpcServerOptions {
  /**
   * Mutual TLS with the cluster CA: a peer without a certificate the CA issued is closed
   * during the handshake, before any frame is read, and counted in
   * `floe_rpc_unauthenticated_total{listener}`.
   */
  tls?: ClusterTls;
  /** The counter's label; default `<who>-frames`. */
  listener?: string;
}

/**
 * The server side of the invoke fast path: request/reply over Floe's frames (JSON headers),
 * many calls in flight per connection, answered as they finish. It does what Nest's TCP
 * transport does for one pattern, minus the observable pipeline: measured here, a Nest TCP
 * round trip costs ~0.4 ms hot and ~1.2 ms after 120 ms idle, a raw one 0.05 and 0.6 ms.
 * Every error leaves as a SerializedError, as the apps' Nest exception filters send them.
 */
export class FrameRpcServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly handlers: Record<string, RpcHandler>,
    /** Names the service in INTERNAL errors: `agent: …`. */
    private readonly who: string,
    opts: FrameRpcServerOptions = {},
  ) {
    if (opts.tls) {
      this.server = tls.createServer(serverTlsOptions(opts.tls), (s) => this.accept(s));
      countUnauthenticated(this.server, opts.listener ?? `${who}-frames`);
    } else {
      this.server = net.createServer((s) => this.accept(s));
    }
    // Every connection, authenticated or still in its handshake, so close() drops them all.
    this.server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Listens; resolves to the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops listening and drops every connection; callers see their calls fail as UNAVAILABLE. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const decoder = new FrameDecoder('json');
    socket.on('data', (chunk) => {
      try {
        decoder.push(chunk, (f) => this.dispatch(socket, f.header as unknown as RpcRequest));
      } catch {
        socket.destroy(); // a malformed or oversized frame: the stream can't be resynchronized
      }
    });
    socket.on('error', () => {});
  }

  private dispatch(socket: net.Socket, req: RpcRequest): void {
    const reply = (r: RpcReply) => {
      if (!socket.destroyed) socket.write(encodeFrame(r));
    };
    const handler = this.handlers[req.p];
    if (!handler) {
      reply({
        i: req.i,
        e: serialize(new FloeError('INVALID_ARGUMENT', `${this.who}: no handler for '${req.p}'`)),
      });
      return;
    }
    try {
      Promise.resolve(handler(req.d as never)).then(
        (r) => reply({ i: req.i, r }),
        (err) => reply({ i: req.i, e: this.serializeError(err) }),
      );
    } catch (err) {
      reply({ i: req.i, e: this.serializeError(err) });
    }
  }

  private serializeError(err: unknown): SerializedError {
    if (err instanceof FloeError) return serialize(err);
    return serialize(new FloeError('INTERNAL', `${this.who}: ${(err as Error)?.message ?? String(err)}`));
  }
}

const serialize = (e: FloeError): SerializedError => e.toJSON();
