import {
  type AgentEnsureRequest,
  type AgentInfo,
  AgentInvokeClient,
  type AgentInvokeRequest,
  type AgentLogsRequest,
  type AgentLogsResponse,
  AgentPatterns,
  type AgentPullEvent,
  type AgentPullRequest,
  type AgentRetireRequest,
  type ClusterTls,
  type DepsBuildRequest,
  type DepsBuildResult,
  FloeError,
  FrameRpcClient,
  type InvokeResponse,
  invokeDialAddress,
  isSerializedError,
  type PoolTarget,
  RpcConnectionError,
  RpcTimeoutError,
  reviveError,
  rpcClientOptions,
} from '@floe/contracts';
import { type AgentClient, type AgentClientFactory, UnavailableError } from '@floe/scheduler-core';
import { ClientTCP } from '@nestjs/microservices';
import { defaultIfEmpty, firstValueFrom, TimeoutError, timeout } from 'rxjs';

/**
 * Agent RPC over Nest TCP, one connection per agent, reconnected by Nest on the next call;
 * invoke goes over the agent's fast path (bodies as frame bodies: Nest's JSON can't carry bytes).
 */
class TcpAgentClient implements AgentClient {
  constructor(
    readonly rpc: string,
    readonly invokeAddr: string | undefined,
    private readonly agentId: string,
    private readonly client: ClientTCP,
    private readonly controlTimeoutMs: number,
    private readonly fast?: AgentInvokeClient,
  ) {}

  async invoke(req: AgentInvokeRequest, timeoutMs: number): Promise<InvokeResponse> {
    if (!this.fast)
      throw new UnavailableError(`invoke on agent ${this.agentId}: it advertises no invoke port`, {
        details: { agentId: this.agentId },
      });
    try {
      const answer = await this.fast.invoke(req, timeoutMs);
      if (typeof answer?.status !== 'number')
        throw new FloeError('INTERNAL', `invoke on agent ${this.agentId}: answer is not an InvokeResponse`);
      return answer;
    } catch (err) {
      throw this.fastError(err);
    }
  }
  async ensure(req: AgentEnsureRequest): Promise<void> {
    await this.call(AgentPatterns.ensure, req, this.controlTimeoutMs * 6);
  }
  async retire(req: AgentRetireRequest): Promise<void> {
    await this.call(AgentPatterns.retire, req, this.controlTimeoutMs * 2);
  }
  async target(req: PoolTarget): Promise<void> {
    await this.call(AgentPatterns.target, req, this.controlTimeoutMs);
  }
  logs(req: AgentLogsRequest): Promise<AgentLogsResponse> {
    return this.call(AgentPatterns.logs, req, this.controlTimeoutMs);
  }
  status(): Promise<AgentInfo> {
    return this.call(AgentPatterns.status, {}, this.controlTimeoutMs);
  }
  /** Nest TCP carries an Observable's values one packet each: the pull's events as they come. */
  pull(req: AgentPullRequest, onEvent: (e: AgentPullEvent) => void, idleMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client
        .send<AgentPullEvent>(AgentPatterns.pull, req)
        .pipe(timeout({ each: idleMs }))
        .subscribe({
          next: onEvent,
          error: (err) => reject(this.toFloeError(AgentPatterns.pull, err, idleMs)),
          complete: () => resolve(),
        });
    });
  }

  depsBuild(req: DepsBuildRequest, timeoutMs: number): Promise<DepsBuildResult> {
    return this.call(AgentPatterns.depsBuild, req, timeoutMs);
  }

  close(): void {
    this.client.close();
    this.fast?.close();
  }

  /** The fast path's transport failures mean what Nest's do: the agent is unavailable. */
  private fastError(err: unknown): FloeError {
    const e = err as FloeError;
    if (e instanceof RpcTimeoutError || e instanceof RpcConnectionError) {
      return new UnavailableError(`invoke on agent ${this.agentId} (${this.fast?.where}): ${e.message}`, {
        cause: err,
        details: { connection: true, agentId: this.agentId },
      });
    }
    return e instanceof FloeError
      ? e
      : new FloeError('INTERNAL', `invoke on agent ${this.agentId}: ${String(err)}`);
  }

  private async call<T>(pattern: string, payload: unknown, ms: number): Promise<T> {
    try {
      // Control calls may answer nothing (a void handler); invoke checks its answer's shape.
      const answer = await firstValueFrom(
        this.client.send<T>(pattern, payload).pipe(timeout({ first: ms }), defaultIfEmpty(undefined as T)),
      );
      return answer;
    } catch (err) {
      throw this.toFloeError(pattern, err, ms);
    }
  }

  private toFloeError(pattern: string, err: unknown, ms: number): FloeError {
    if (err instanceof FloeError) return err;
    const what = `${pattern} on agent ${this.agentId} (${this.rpc})`;
    if (err instanceof TimeoutError) {
      return new UnavailableError(`${what}: no answer in ${ms} ms`, {
        details: { connection: true, agentId: this.agentId },
      });
    }
    if (isSerializedError(err) && typeof err.code === 'string' && err.code !== ('error' as string)) {
      return reviveError({ ...err, fault: err.fault ?? 'platform', details: err.details ?? {} });
    }
    const e = err as { code?: string; message?: string };
    // Socket errors carry an errno code; Nest reports a socket closed under a pending call
    // as a bare 'Connection closed' (the agent died mid-call).
    if ((e?.code && /^E[A-Z]+/.test(e.code)) || /connection closed|socket/i.test(e?.message ?? '')) {
      return new UnavailableError(`${what}: ${e.code ?? e.message}`, {
        cause: err,
        details: { connection: true, agentId: this.agentId },
      });
    }
    return new FloeError('INTERNAL', `${what}: ${e?.message ?? String(err)}`, { cause: err });
  }
}

export class TcpAgentClientFactory implements AgentClientFactory {
  private readonly clients = new Map<string, TcpAgentClient>();

  constructor(
    private readonly controlTimeoutMs: number,
    /** Mutual TLS for both of an agent's ports; the scheduler's certificate is its credential. */
    private readonly tls?: ClusterTls,
  ) {}

  get(agent: AgentInfo): AgentClient {
    const cached = this.clients.get(agent.id);
    if (cached && cached.rpc === agent.rpc && cached.invokeAddr === agent.invoke) return cached;
    cached?.close();
    const client = new ClientTCP(rpcClientOptions(parseAddress(agent.rpc), this.tls));
    // ClientTCP reports socket errors through the pending call; this keeps them off the event loop.
    client.on?.('error', () => {});
    const c = new TcpAgentClient(
      agent.rpc,
      agent.invoke,
      agent.id,
      client,
      this.controlTimeoutMs,
      agent.invoke
        ? new AgentInvokeClient(
            new FrameRpcClient(invokeDialAddress(agent.invoke, agent.invokeSocket), { tls: this.tls }),
          )
        : undefined,
    );
    this.clients.set(agent.id, c);
    return c;
  }

  drop(agentId: string): void {
    this.clients.get(agentId)?.close();
    this.clients.delete(agentId);
  }

  closeAll(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

function parseAddress(hostPort: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(hostPort);
  return { host: m?.[1] ?? '127.0.0.1', port: Number(m?.[2] ?? 0) };
}
