import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {
  AgentEnsureRequest,
  AgentInfo,
  AgentInvokeRequest,
  AgentRetireRequest,
  InvokeRequest,
  InvokeResponse,
  PoolTarget,
} from '@floe/contracts';
import { Redis } from 'ioredis';
import type { AgentClient, AgentClientFactory } from '../agent-client.js';
import { type SchedulerKeys, schedulerKeys } from '../keys.js';

/**
 * A Redis connection under a unique key prefix, for tests. REDIS_URL must be set (the test
 * runner starts a server); `cleanup` deletes every key of the prefix and closes.
 */
export async function testRedis(): Promise<{
  redis: Redis;
  keys: SchedulerKeys;
  prefix: string;
  url: string;
  connect: () => Redis;
  cleanup: () => Promise<void>;
}> {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: these tests need a real redis-server (see the README)');
  const prefix = `floe-test-${randomBytes(4).toString('hex')}`;
  const opened: Redis[] = [];
  const connect = () => {
    const r = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 2000 });
    r.on('error', () => {});
    opened.push(r);
    return r;
  };
  const redis = connect();
  await new Promise<void>((resolve, reject) => {
    redis.once('ready', () => resolve());
    redis.once('end', () => reject(new Error(`redis at ${url} unreachable`)));
  });
  return {
    redis,
    keys: schedulerKeys(prefix),
    prefix,
    url,
    connect,
    cleanup: async () => {
      const found = await redis.keys(`${prefix}:*`).catch(() => [] as string[]);
      if (found.length) await redis.del(...found).catch(() => {});
      for (const r of opened) r.disconnect();
    },
  };
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-sched-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function agentInfo(id: string, over: Partial<AgentInfo> = {}): AgentInfo {
  return {
    id,
    rpc: `127.0.0.1:${10000 + id.length}`,
    http: '127.0.0.1:1',
    labels: {},
    capacity: { memoryBytes: 8 * 1024 ** 3, cpus: 4 },
    free: { memoryBytes: 4 * 1024 ** 3 },
    stemcells: {},
    functions: {},
    startedAt: 1,
    heartbeatAt: Date.now(),
    ...over,
  };
}

/** Registers an agent the way a node-agent's heartbeat does. */
export async function registerAgent(redis: Redis, keys: SchedulerKeys, info: AgentInfo, ttlMs = 3000) {
  await redis
    .multi()
    .set(keys.agent(info.id), JSON.stringify({ ...info, heartbeatAt: Date.now() }), 'PX', ttlMs)
    .sadd(keys.agentsSet, info.id)
    .exec();
}

export function invokeRequest(fn: string, over: Partial<InvokeRequest> = {}): InvokeRequest {
  return {
    callId: randomBytes(6).toString('hex'),
    function: fn,
    namespace: 'openfaas-fn',
    method: 'POST',
    path: '/',
    query: '',
    headers: {},
    body: Buffer.from('hi'),
    ...over,
  };
}

type Handler = (agentId: string, req: AgentInvokeRequest) => Promise<InvokeResponse>;

/** Records every call; `invoke` runs the handler given (default: 200 echo). */
export class FakeAgents implements AgentClientFactory {
  readonly calls: { agent: string; op: string; req: unknown }[] = [];
  handler: Handler = async (agentId, req) => ({
    status: 200,
    headers: { 'content-type': 'text/plain' },
    body: req.request.body,
    start: 'warm',
    functionMs: 1,
    agentId,
    instanceId: `${agentId}-i1`,
  });

  get(agent: AgentInfo): AgentClient {
    const rec = (op: string, req: unknown) => this.calls.push({ agent: agent.id, op, req });
    return {
      invoke: (req: AgentInvokeRequest) => {
        rec('invoke', req);
        return this.handler(agent.id, req);
      },
      ensure: async (req: AgentEnsureRequest) => void rec('ensure', req),
      retire: async (req: AgentRetireRequest) => void rec('retire', req),
      target: async (req: PoolTarget) => void rec('target', req),
      logs: async () => ({ lines: [] }),
      status: async () => agent,
      depsBuild: async (req) => {
        rec('depsBuild', req);
        return { key: req.key, cached: false };
      },
    };
  }

  of(op: string): { agent: string; op: string; req: any }[] {
    return this.calls.filter((c) => c.op === op);
  }

  drop(): void {}
  closeAll(): void {}
}
