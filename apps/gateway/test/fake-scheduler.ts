import net from 'node:net';
import {
  type AgentInfo,
  AlreadyExistsError,
  DEFAULT_NAMESPACE,
  type EnqueueRequest,
  FloeError,
  FrameRpcServer,
  type FunctionDeployment,
  type FunctionRef,
  type FunctionStatus,
  type InvokeRequest,
  type InvokeResponse,
  type LogLine,
  type LogsReadRequest,
  NotFoundError,
  reviveError,
  SchedulerPatterns,
  type SerializedError,
} from '@floe/contracts';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, type MicroserviceOptions, RpcException, Transport } from '@nestjs/microservices';

/** What the fake saw and holds; tests read and seed it. */
export class FakeState {
  functions = new Map<string, FunctionDeployment>();
  secrets = new Map<string, string>();
  calls: { pattern: string; payload: unknown }[] = [];
  logs: LogLine[] = [];
  agents = 1;
  lastInvoke?: InvokeRequest;

  seen(pattern: string) {
    return this.calls.filter((c) => c.pattern === pattern).map((c) => c.payload);
  }
}

const state = new FakeState();
const fail = (e: FloeError) => new RpcException(e.toJSON());
const key = (ns: string | undefined, name: string) => `${ns || DEFAULT_NAMESPACE}/${name}`;

/**
 * A scheduler that answers SchedulerPatterns from memory. Invocations echo the request; a few
 * function names stand for failures: `slow` times out, `busy` is overloaded, `crash` OOMs.
 */
@Controller()
class FakeSchedulerController {
  private record(pattern: string, payload: unknown) {
    state.calls.push({ pattern, payload });
  }

  @MessagePattern(SchedulerPatterns.agents)
  agents(): AgentInfo[] {
    return Array.from({ length: state.agents }, (_, i) => ({ id: `agent-${i}` }) as AgentInfo);
  }

  @MessagePattern(SchedulerPatterns.deploy)
  deploy(d: FunctionDeployment) {
    this.record(SchedulerPatterns.deploy, d);
    state.functions.set(key(d.namespace, d.service), d);
    return { name: d.service, namespace: d.namespace || DEFAULT_NAMESPACE, version: 1 };
  }

  @MessagePattern(SchedulerPatterns.list)
  list(msg: { namespace: string }): FunctionStatus[] {
    this.record(SchedulerPatterns.list, msg);
    return [...state.functions.entries()]
      .filter(([k]) => k.startsWith(`${msg.namespace}/`))
      .map(([, d]) => {
        const { code: _code, ...rest } = d;
        return {
          ...rest,
          name: d.service,
          namespace: msg.namespace,
          replicas: 1,
          availableReplicas: 1,
          invocationCount: 0,
        };
      });
  }

  @MessagePattern(SchedulerPatterns.namespaces)
  namespaces() {
    return [DEFAULT_NAMESPACE];
  }

  @MessagePattern(SchedulerPatterns.remove)
  remove(ref: FunctionRef) {
    this.record(SchedulerPatterns.remove, ref);
    if (!state.functions.delete(key(ref.namespace, ref.name)))
      throw fail(new NotFoundError(`function ${ref.name}.${ref.namespace} not found`));
    return {};
  }

  @MessagePattern(SchedulerPatterns.invoke)
  invoke(req: InvokeRequest): InvokeResponse {
    state.lastInvoke = req;
    if (req.function === 'slow')
      throw fail(
        new FloeError('DEADLINE_EXCEEDED', 'function slow.openfaas-fn timed out after 100 ms', {
          fault: 'user',
        }),
      );
    if (req.function === 'busy')
      throw fail(
        new FloeError('RESOURCE_EXHAUSTED', 'function busy at max concurrency', {
          details: { retryAfterSeconds: 2 },
        }),
      );
    if (req.function === 'hang') return new Promise<InvokeResponse>(() => {}) as unknown as InvokeResponse;
    if (req.function === 'keyed') {
      const given = req.headers['x-api-key'];
      if (given !== 'k1')
        throw fail(
          new FloeError('FAILED_PRECONDITION', `invoke keyed: ${given ? 'wrong' : 'missing'} X-Api-Key`, {
            fault: 'user',
            details: { httpStatus: given ? 403 : 401 },
          }),
        );
    }
    if (req.function === 'crash')
      throw fail(
        new FloeError('FUNCTION_FAILED', 'function crashed: OOMKilled (limit 128Mi)', { fault: 'user' }),
      );
    if (req.function !== 'keyed' && !state.functions.has(key(req.namespace, req.function)))
      throw fail(new NotFoundError(`function ${req.function}.${req.namespace} not found`));
    return {
      status: Number(req.headers['x-want-status'] ?? 200),
      headers: {
        'Content-Type': req.headers['content-type'] ?? 'application/octet-stream',
        'X-Echo-Path': req.path,
      },
      body: req.body,
      start: 'warm',
      functionMs: 0.1,
      agentId: 'agent-0',
      instanceId: 'i-1',
    };
  }

  @MessagePattern(SchedulerPatterns.get)
  get(ref: FunctionRef): FunctionStatus {
    const d = state.functions.get(key(ref.namespace, ref.name));
    if (!d) throw fail(new NotFoundError(`function ${ref.name}.${ref.namespace} not found`));
    const { code: _code, ...rest } = d;
    return {
      ...rest,
      name: d.service,
      namespace: ref.namespace,
      replicas: 1,
      availableReplicas: 1,
      invocationCount: 0,
    };
  }

  @MessagePattern(SchedulerPatterns.scale)
  scale(msg: unknown) {
    this.record(SchedulerPatterns.scale, msg);
    return {};
  }

  @MessagePattern(SchedulerPatterns.versions)
  versions(msg: FunctionRef) {
    this.record(SchedulerPatterns.versions, msg);
    return [{ version: 1, createdAt: '2026-01-01T00:00:00Z', active: true }];
  }

  @MessagePattern(SchedulerPatterns.rollback)
  rollback(msg: unknown) {
    this.record(SchedulerPatterns.rollback, msg);
    return {};
  }

  @MessagePattern(SchedulerPatterns.deadLetters)
  deadLetters(msg: unknown) {
    this.record(SchedulerPatterns.deadLetters, msg);
    return [];
  }

  @MessagePattern(SchedulerPatterns.secretList)
  secretList(msg: { namespace: string }) {
    return [...state.secrets.keys()]
      .filter((k) => k.startsWith(`${msg.namespace}/`))
      .map((k) => ({ name: k.split('/')[1], namespace: msg.namespace }));
  }

  @MessagePattern(SchedulerPatterns.secretPut)
  secretPut(msg: { name: string; namespace: string; mode: string; value?: string; rawValue?: string }) {
    this.record(SchedulerPatterns.secretPut, msg);
    const k = key(msg.namespace, msg.name);
    if (msg.mode === 'create' && state.secrets.has(k))
      throw fail(new AlreadyExistsError(`secret ${msg.name} exists`));
    if (msg.mode === 'update' && !state.secrets.has(k))
      throw fail(new NotFoundError(`secret ${msg.name} not found`));
    state.secrets.set(k, msg.value ?? msg.rawValue ?? '');
    return {};
  }

  @MessagePattern(SchedulerPatterns.secretRemove)
  secretRemove(msg: FunctionRef) {
    if (!state.secrets.delete(key(msg.namespace, msg.name)))
      throw fail(new NotFoundError(`secret ${msg.name} not found`));
    return {};
  }

  @MessagePattern(SchedulerPatterns.enqueue)
  enqueue(msg: EnqueueRequest) {
    this.record(SchedulerPatterns.enqueue, msg);
    return { callId: msg.request.callId };
  }

  @MessagePattern(SchedulerPatterns.logs)
  logs(msg: LogsReadRequest): LogLine[] {
    this.record(SchedulerPatterns.logs, msg);
    if (!state.functions.has(key(msg.namespace, msg.name)))
      throw fail(new NotFoundError(`function ${msg.name}.${msg.namespace} not found`));
    let lines = state.logs.filter((l) => l.name === msg.name && (!msg.since || l.timestamp > msg.since));
    if (msg.tail) lines = lines.slice(-msg.tail);
    return lines;
  }
}

@Module({ controllers: [FakeSchedulerController] })
class FakeSchedulerModule {}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Starts the fake on a free port; returns its state and a stop function. */
export async function startFakeScheduler() {
  const port = await freePort();
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(FakeSchedulerModule, {
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port },
    logger: false,
  });
  await app.listen();
  // The gateway's invoke fast path: the same controller, errors unwrapped from RpcException.
  const controller = app.get(FakeSchedulerController);
  const fast = new FrameRpcServer(
    {
      [SchedulerPatterns.invoke]: async (req: InvokeRequest) => {
        try {
          return await controller.invoke(req);
        } catch (e) {
          throw e instanceof RpcException ? reviveError(e.getError() as SerializedError) : e;
        }
      },
      [SchedulerPatterns.enqueue]: async (req: EnqueueRequest) => {
        try {
          return await controller.enqueue(req);
        } catch (e) {
          throw e instanceof RpcException ? reviveError(e.getError() as SerializedError) : e;
        }
      },
    },
    'fake-scheduler',
  );
  const invokePort = await fast.listen('127.0.0.1', 0);
  return {
    port,
    invokePort,
    state,
    stop: async () => {
      await fast.close();
      await app.close();
    },
  };
}
