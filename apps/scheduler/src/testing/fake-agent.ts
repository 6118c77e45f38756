import 'reflect-metadata';
import {
  type AgentEnsureRequest,
  type AgentInfo,
  type AgentInvokeRequest,
  type AgentInvokeWire,
  AgentPatterns,
  FloeError,
  FrameRpcServer,
  type FunctionVersion,
  type InvokeResponse,
  redisKeys,
} from '@floe/contracts';
import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, Payload, Transport } from '@nestjs/microservices';
import { Redis } from 'ioredis';

/**
 * A stand-in node-agent for scheduler tests: a real Nest TCP microservice answering
 * AgentPatterns, registered in Redis with the agent's heartbeat protocol (SET PX + SADD).
 * `invoke` echoes the body; header `x-delay-ms` makes it slow. With `fastPort`, it also serves
 * invoke on the fast path (FrameRpcServer) and advertises it, as the real agent does.
 */
export class FakeAgent {
  readonly invocations: AgentInvokeRequest[] = [];
  private readonly versions = new Map<string, FunctionVersion>();
  readonly calls: { op: string; payload: unknown }[] = [];
  functions: AgentInfo['functions'] = {};
  private app?: INestMicroservice;
  private fast?: FrameRpcServer;
  private timer?: NodeJS.Timeout;
  private readonly redis: Redis;

  constructor(
    readonly id: string,
    readonly port: number,
    readonly redisUrl: string,
    private readonly prefix: string,
    readonly fastPort?: number,
  ) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.redis.on('error', () => {});
  }

  info(): AgentInfo {
    return {
      id: this.id,
      rpc: `127.0.0.1:${this.port}`,
      ...(this.fastPort ? { invoke: `127.0.0.1:${this.fastPort}` } : {}),
      http: '127.0.0.1:1',
      labels: {},
      capacity: { memoryBytes: 4 * 1024 ** 3, cpus: 2 },
      free: { memoryBytes: 2 * 1024 ** 3 },
      stemcells: { node: 1 },
      functions: this.functions,
      startedAt: 1,
      heartbeatAt: Date.now(),
    };
  }

  async start(): Promise<void> {
    const agent = this;
    @Controller()
    class FakeAgentController {
      @MessagePattern(AgentPatterns.invoke)
      invoke(@Payload() req: AgentInvokeRequest): Promise<InvokeResponse> {
        return agent.invoke(req);
      }
      @MessagePattern(AgentPatterns.ensure)
      ensure(@Payload() req: AgentEnsureRequest) {
        agent.calls.push({ op: 'ensure', payload: req });
        agent.functions[`${req.version.namespace}/${req.version.name}`] = {
          instances: req.instances,
          idle: req.instances,
          inflight: 0,
        };
        return {};
      }
      @MessagePattern(AgentPatterns.retire)
      retire(@Payload() req: { namespace: string; name: string; keepVersion?: number }) {
        agent.calls.push({ op: 'retire', payload: req });
        if (req.keepVersion === undefined) delete agent.functions[`${req.namespace}/${req.name}`];
        return {};
      }
      @MessagePattern(AgentPatterns.target)
      target(@Payload() req: unknown) {
        agent.calls.push({ op: 'target', payload: req });
        return {};
      }
      @MessagePattern(AgentPatterns.logs)
      logs(@Payload() req: { namespace: string; name: string }) {
        return {
          lines: [
            {
              ts: `2026-01-01T00:00:0${agent.id.length % 10}.000Z`,
              instance: `${agent.id}-1`,
              stream: 'stdout',
              text: `hello from ${agent.id}`,
              function: req.name,
              namespace: req.namespace,
            },
          ],
        };
      }
      @MessagePattern(AgentPatterns.status)
      status() {
        return agent.info();
      }
    }
    @Module({ controllers: [FakeAgentController] })
    class FakeAgentModule {}
    this.app = await NestFactory.createMicroservice(FakeAgentModule, {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: this.port },
      logger: false,
    });
    await this.app.listen();
    if (this.fastPort) {
      this.fast = new FrameRpcServer(
        { [AgentPatterns.invoke]: (w: AgentInvokeWire) => this.invoke(this.resolve(w)) },
        'fake-agent',
      );
      await this.fast.listen('127.0.0.1', this.fastPort);
    }
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch(() => {}), 1000);
  }

  /** The fast path names a version it sent before by ref, as with agent-core's VersionCache. */
  private resolve(w: AgentInvokeWire): AgentInvokeRequest {
    if (w.version && w.ref) this.versions.set(w.ref, w.version);
    const version = w.version ?? this.versions.get(w.ref ?? '');
    if (!version)
      throw new FloeError('FAILED_PRECONDITION', `version ${w.ref} unknown`, {
        details: { versionUnknown: w.ref },
      });
    return { request: w.request, version };
  }

  async invoke(req: AgentInvokeRequest): Promise<InvokeResponse> {
    this.invocations.push(req);
    const key = `${req.version.namespace}/${req.version.name}`;
    this.functions[key] ??= { instances: 1, idle: 1, inflight: 0 };
    const delay = Number(req.request.headers['x-delay-ms'] ?? 0);
    if (delay) await new Promise((r) => setTimeout(r, delay));
    return {
      status: 200,
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from(`${this.id}:${Buffer.from(req.request.body)}`),
      start: 'warm',
      functionMs: delay,
      agentId: this.id,
      instanceId: `${this.id}-1`,
    };
  }

  async beat(): Promise<void> {
    const keys = redisKeys(this.prefix);
    await this.redis
      .multi()
      .set(keys.agent(this.id), JSON.stringify(this.info()), 'PX', 3000)
      .sadd(keys.agentsSet, this.id)
      .exec();
  }

  /** Dies without a goodbye: no more heartbeats, RPC port closed, Redis key left to expire. */
  async crash(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.fast?.close();
    this.fast = undefined;
    await this.app?.close();
    this.app = undefined;
  }

  async stop(): Promise<void> {
    await this.crash();
    this.redis.disconnect();
  }
}
