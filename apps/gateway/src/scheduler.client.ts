import {
  AgentInvokeClient,
  type DirectCallStats,
  DirectInvoker,
  type EnqueueRequest,
  type EnqueueResponse,
  FloeError,
  FrameRpcClient,
  type InvokeRequest,
  type InvokeResponse,
  type InvokeRoute,
  invokeDialAddress,
  isSerializedError,
  type Placement,
  type PlaceRequest,
  RpcConnectionError,
  RpcTimeoutError,
  reviveError,
  rpcClientOptions,
  SchedulerPatterns,
} from '@floe/contracts';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { ClientTCP } from '@nestjs/microservices';
import type { GatewayConfig } from './config.js';
import { isFloeCode } from './http-error.js';
import { GATEWAY_CONFIG } from './tokens.js';

/**
 * Nest's TCP client with Nagle's algorithm off. Many calls share one socket, so with Nagle a
 * small request written while an earlier one is unacknowledged waits for the ACK (up to the
 * peer's delayed-ACK timer), which showed up as multi-millisecond p99s on warm invokes.
 */
class NoDelayClientTCP extends ClientTCP {
  override createSocket() {
    const socket = super.createSocket();
    socket.netSocket.setNoDelay(true);
    return socket;
  }
}

type Pattern = (typeof SchedulerPatterns)[keyof typeof SchedulerPatterns];

/** Calls that change what a placement says: every cached one is dropped after them. */
const CHANGES_PLACEMENT = new Set<string>([
  SchedulerPatterns.deploy,
  SchedulerPatterns.update,
  SchedulerPatterns.remove,
  SchedulerPatterns.rollback,
  SchedulerPatterns.scale,
]);

/**
 * The gateway's one connection to the scheduler (Nest TCP RPC). Every failure comes out as a
 * FloeError: the scheduler's own errors revived from their SerializedError, an unreachable
 * scheduler as UNAVAILABLE, a call past its timeout as DEADLINE_EXCEEDED.
 */
@Injectable()
export class SchedulerClient implements OnApplicationShutdown {
  private readonly proxy: ClientTCP;
  private readonly fast: FrameRpcClient;
  private readonly where: string;
  /** The direct route (FLOE_DIRECT_ROUTE): agents called with the scheduler's placements. */
  private readonly direct?: DirectInvoker;
  private routeObserver?: (route: InvokeRoute) => void;

  constructor(@Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig) {
    const tls = config.internalTls;
    this.proxy = new NoDelayClientTCP(rpcClientOptions(config.scheduler, tls));
    this.fast = new FrameRpcClient(config.schedulerInvoke, { tls });
    this.where = `${config.scheduler.host}:${config.scheduler.port}`;
    if (config.directRoute)
      this.direct = new DirectInvoker({
        place: (req) => this.fastCall<Placement>(SchedulerPatterns.place, req, config.rpcTimeoutMs),
        viaScheduler: (req, ms) => this.viaScheduler(req, ms),
        report: (stats) => this.fastCall<void>(SchedulerPatterns.direct, stats, config.rpcTimeoutMs),
        // The agents' invoke ports take the cluster's certificates, the gateway's included.
        agent: (address, socket) =>
          new AgentInvokeClient(new FrameRpcClient(invokeDialAddress(address, socket), { tls })),
        onRoute: (route) => this.routeObserver?.(route),
      });
  }

  /**
   * The hot path: straight to an agent on the direct route, else `scheduler.invoke` over the
   * scheduler's frame channel (not Nest TCP: a hop there costs ~0.4 ms, here ~0.05 ms). Bodies
   * ride as frame bodies, bytes as they came. Same errors as `call`.
   */
  invoke(req: InvokeRequest, timeoutMs: number): Promise<InvokeResponse> {
    return this.direct ? this.direct.invoke(req, timeoutMs) : this.viaScheduler(req, timeoutMs);
  }

  /** async.enqueue over the frame channel: the body as bytes, not base64 in Nest's JSON. */
  enqueue(req: EnqueueRequest): Promise<EnqueueResponse> {
    return this.fastCall<EnqueueResponse>(SchedulerPatterns.enqueue, req, this.config.rpcTimeoutMs);
  }

  /** Told the way each call went (the gateway's route metric). */
  observeRoutes(observer: (route: InvokeRoute) => void): void {
    this.routeObserver = observer;
  }

  private viaScheduler(req: InvokeRequest, timeoutMs: number): Promise<InvokeResponse> {
    return this.fastCall<InvokeResponse>(SchedulerPatterns.invoke, req, timeoutMs);
  }

  private async fastCall<T>(
    pattern:
      | typeof SchedulerPatterns.invoke
      | typeof SchedulerPatterns.place
      | typeof SchedulerPatterns.direct
      | typeof SchedulerPatterns.enqueue,
    data: InvokeRequest | PlaceRequest | DirectCallStats | EnqueueRequest,
    timeoutMs: number,
  ): Promise<T> {
    try {
      return await this.fast.call<T>(pattern, data, timeoutMs);
    } catch (err) {
      if (err instanceof RpcTimeoutError)
        throw new FloeError(
          'DEADLINE_EXCEEDED',
          `scheduler did not answer ${pattern} within ${timeoutMs} ms`,
          { details: { timeoutMs } },
        );
      if (err instanceof RpcConnectionError)
        throw new FloeError('UNAVAILABLE', `scheduler unreachable at ${this.fast.where}: ${err.message}`, {
          cause: err,
        });
      throw err;
    }
  }

  /** Calls `pattern`; management calls use the RPC timeout, invoke passes its own. */
  call<T>(pattern: Pattern, payload: unknown, timeoutMs = this.config.rpcTimeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let value: T;
      // A plain subscription instead of firstValueFrom + rxjs timeout: fewer allocations on
      // the invoke path, and the timer is ours to clear.
      const timer = setTimeout(() => {
        sub.unsubscribe();
        reject(
          new FloeError('DEADLINE_EXCEEDED', `scheduler did not answer ${pattern} within ${timeoutMs} ms`, {
            details: { timeoutMs },
          }),
        );
      }, timeoutMs);
      const sub = this.proxy.send<T>(pattern, payload).subscribe({
        next: (v) => {
          value = v;
        },
        error: (err: unknown) => {
          clearTimeout(timer);
          reject(this.toFloeError(pattern, err));
        },
        complete: () => {
          clearTimeout(timer);
          if (CHANGES_PLACEMENT.has(pattern)) this.direct?.forget();
          resolve(value);
        },
      });
    });
  }

  /**
   * A call whose answer is a stream (image.pull): `onEvent` sees each value as it comes; the
   * deadline is per value (`idleMs` of silence), not for the whole call.
   */
  stream<T>(pattern: Pattern, payload: unknown, onEvent: (v: T) => void, idleMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          sub.unsubscribe();
          reject(
            new FloeError('DEADLINE_EXCEEDED', `scheduler sent nothing on ${pattern} for ${idleMs} ms`, {
              details: { timeoutMs: idleMs },
            }),
          );
        }, idleMs);
      };
      arm();
      const sub = this.proxy.send<T>(pattern, payload).subscribe({
        next: (v) => {
          arm();
          onEvent(v);
        },
        error: (err: unknown) => {
          clearTimeout(timer);
          reject(this.toFloeError(pattern, err));
        },
        complete: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private toFloeError(pattern: string, err: unknown): FloeError {
    if (err instanceof FloeError) return err;
    // Node socket errors also carry code+message; only Floe's own codes are scheduler verdicts.
    if (isSerializedError(err) && isFloeCode(err.code)) return reviveError(err);
    const e = err as { code?: string; message?: string } | undefined;
    const message = e?.message ?? String(err);
    if (
      e?.code === 'ECONNREFUSED' ||
      e?.code === 'ECONNRESET' ||
      /connection closed|ECONNREFUSED/i.test(message)
    )
      return new FloeError('UNAVAILABLE', `scheduler unreachable at ${this.where}: ${message}`, {
        cause: err,
      });
    // Nest answers an unhandled non-RpcException error as { status: 'error', message }.
    return new FloeError('INTERNAL', `scheduler failed ${pattern}: ${message}`, { cause: err });
  }

  async onApplicationShutdown(): Promise<void> {
    this.direct?.close();
    this.fast.close();
    await this.proxy.close();
  }
}
