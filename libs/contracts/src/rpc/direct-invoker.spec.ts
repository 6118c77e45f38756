import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AgentInvokeRequest } from '../agent-rpc.js';
import type { DirectCallStats, Placement } from '../direct-route.js';
import { FloeError, NotFoundError } from '../errors.js';
import type { FunctionVersion } from '../function.js';
import type { InvokeRequest, InvokeResponse } from '../invoke.js';
import type { AgentInvokeClient } from './agent-invoke-client.js';
import { DirectInvoker, type InvokeRoute } from './direct-invoker.js';
import { RpcConnectionError, RpcTimeoutError } from './frame-rpc-client.js';

// Pure logic of the gateway's end of the direct route: the scheduler and the agents are
// stand-ins that record what they are asked (the e2e suite drives the real ones).

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const version = (over: Partial<FunctionVersion> = {}) =>
  ({
    namespace: 'ns',
    name: 'f',
    version: 1,
    createdAt: 't',
    runtime: 'node',
    timeoutMs: 10_000,
    maxConcurrency: 1,
    maxScale: 1,
    ...over,
  }) as FunctionVersion;

const request = (body = 'x'): InvokeRequest => ({
  callId: 'c',
  function: 'f',
  namespace: 'ns',
  method: 'POST',
  path: '/',
  query: '',
  headers: {},
  body: Buffer.from(body),
});

const answer = (agentId: string, body: Buffer): InvokeResponse => ({
  status: 200,
  headers: {},
  body,
  start: 'warm',
  functionMs: 0,
  agentId,
  instanceId: `${agentId}-1`,
});

function setup(placement: () => Placement | Promise<Placement>) {
  const routes: InvokeRoute[] = [];
  const viaScheduler: InvokeRequest[] = [];
  const direct: { agent: string; req: AgentInvokeRequest }[] = [];
  const reports: DirectCallStats[] = [];
  /** Each client made: the agent's address and unix socket. */
  const dialed: [string, string | undefined][] = [];
  let places = 0;
  /** Per agent address: what its call does (default: echo at once). */
  const behaviour = new Map<string, (req: AgentInvokeRequest) => Promise<InvokeResponse>>();
  const d = new DirectInvoker({
    place: async () => {
      places++;
      return placement();
    },
    viaScheduler: async (req) => {
      viaScheduler.push(req);
      return answer('scheduler', req.body);
    },
    report: async (s) => {
      reports.push(s);
    },
    agent: (address, socket) => {
      dialed.push([address, socket]);
      return {
        invoke: (req: AgentInvokeRequest) => {
          direct.push({ agent: address, req });
          return behaviour.get(address)?.(req) ?? Promise.resolve(answer(address, req.request.body));
        },
        close: () => {},
      } as unknown as AgentInvokeClient;
    },
    statsEveryMs: 20,
    onRoute: (r) => routes.push(r),
  });
  cleanups.push(() => d.close());
  return { d, routes, viaScheduler, direct, reports, behaviour, dialed, places: () => places };
}

const placed = (over: Partial<Placement> = {}): Placement => ({
  version: version(),
  agents: [{ id: 'a', invoke: 'a:1', slots: 1 }],
  mayGrow: false,
  ttlMs: 60_000,
  agentTimeoutMs: 1000,
  queueWaitMs: 300,
  ...over,
});

describe(DirectInvoker.name, () => {
  it('serves a call from a placement expired less than a TTL ago while it asks again; the next call uses the answer', async () => {
    let clock = Date.now();
    const now = vi.spyOn(Date, 'now').mockImplementation(() => clock);
    cleanups.push(() => now.mockRestore());
    const answers: ((p: Placement) => void)[] = [];
    let asked = 0;
    const t = setup(() =>
      ++asked === 1 ? placed({ ttlMs: 1000 }) : new Promise<Placement>((r) => answers.push(r)),
    );
    await t.d.invoke(request('b0'), 5000);
    clock += 1500; // expired 500 ms ago
    await t.d.invoke(request('b1'), 5000); // answered while fn.place is still unanswered
    expect(t.places()).toBe(2);
    await t.d.invoke(request('b2'), 5000); // one question at a time
    expect(t.places()).toBe(2);
    answers[0]?.(placed({ agents: [{ id: 'b', invoke: 'b:1', slots: 1 }], ttlMs: 1000 }));
    await expect.poll(async () => (await t.d.invoke(request('b3'), 5000)).agentId).toBe('b:1');
    // Expired for more than a TTL: the call waits for the answer.
    clock += 2500;
    const late = t.d.invoke(request('b4'), 5000);
    await expect.poll(() => answers.length).toBe(2);
    answers[1]?.(placed({ agents: [{ id: 'c', invoke: 'c:1', slots: 1 }], ttlMs: 1000 }));
    expect((await late).agentId).toBe('c:1');
    expect(t.direct.map((c) => c.agent).slice(0, 3)).toEqual(['a:1', 'a:1', 'a:1']);
  });

  it("hands the agent's unix socket to the client it makes, one client for all calls", async () => {
    const t = setup(() =>
      placed({ agents: [{ id: 'a', invoke: '127.0.0.1:1', socket: '/s/invoke.sock', slots: 1 }] }),
    );
    for (let i = 0; i < 3; i++) await t.d.invoke(request(`b${i}`), 5000);
    expect(t.dialed).toEqual([['127.0.0.1:1', '/s/invoke.sock']]);
    expect(t.direct).toHaveLength(3);
  });

  it('calls the placed agent itself, asks for a placement once, and flushes its call counts', async () => {
    const t = setup(() => placed());
    for (let i = 0; i < 3; i++)
      expect((await t.d.invoke(request(`b${i}`), 5000)).body.toString()).toBe(`b${i}`);
    expect(t.direct.map((c) => c.agent)).toEqual(['a:1', 'a:1', 'a:1']);
    expect(t.viaScheduler).toEqual([]);
    expect(t.places()).toBe(1);
    expect(t.direct[0]?.req.request.deadline).toBeGreaterThan(Date.now());
    await expect.poll(() => t.reports.length).toBeGreaterThan(0);
    expect(t.reports[0]?.calls['ns/f']?.count).toBe(3);
  });

  it('sends a call to the scheduler when no instance is warm', async () => {
    const t = setup(() => placed({ agents: [], mayGrow: true }));
    await t.d.invoke(request(), 5000);
    expect(t.routes).toEqual(['no-warm-instance']);
    expect(t.direct).toEqual([]);
  });

  it('sends a call with no warm instance to the one agent the placement names to start one, not the scheduler', async () => {
    const start = { id: 'a', invoke: 'a:1', socket: '/s/invoke.sock', slots: 0 };
    const t = setup(() => placed({ agents: [], mayGrow: true, start }));
    for (let i = 0; i < 2; i++)
      expect((await t.d.invoke(request(`b${i}`), 5000)).body.toString()).toBe(`b${i}`);
    expect(t.routes).toEqual(['start-at-agent', 'start-at-agent']);
    expect(t.direct.map((c) => c.agent)).toEqual(['a:1', 'a:1']);
    expect(t.dialed).toEqual([['a:1', '/s/invoke.sock']]);
    expect(t.viaScheduler).toEqual([]);
    await expect.poll(() => t.reports.length).toBeGreaterThan(0);
    expect(t.reports[0]?.calls['ns/f']?.count).toBe(2);
  });

  it('sends a cold call through the scheduler when the agent named to start one is full', async () => {
    const t = setup(() =>
      placed({ agents: [], mayGrow: true, start: { id: 'a', invoke: 'a:1', slots: 0 }, ttlMs: 60_000 }),
    );
    t.behaviour.set('a:1', () => Promise.reject(new FloeError('RESOURCE_EXHAUSTED', 'full')));
    await t.d.invoke(request(), 5000);
    expect(t.routes).toEqual(['agent-refused']);
    expect(t.viaScheduler).toHaveLength(1);
  });

  it('asks again once a call through the scheduler came back, and sends the next call to the agent it names', async () => {
    let asked = 0;
    const t = setup(() => (++asked === 1 ? placed({ agents: [], ttlMs: 60_000 }) : placed()));
    await t.d.invoke(request(), 5000);
    await t.d.invoke(request(), 5000);
    expect(t.routes).toEqual(['no-warm-instance', 'direct']);
    expect(t.places()).toBe(2);
  });

  it("passes a function's not-found through, and falls back to the scheduler when it can't place", async () => {
    const missing = setup(() => {
      throw new NotFoundError('no such function');
    });
    await expect(missing.d.invoke(request(), 5000)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const old = setup(() => {
      throw new FloeError('INVALID_ARGUMENT', "scheduler: no handler for 'fn.place'");
    });
    await old.d.invoke(request(), 5000);
    await old.d.invoke(request(), 5000);
    expect(old.routes).toEqual(['no-placement', 'no-placement']);
    expect(old.places()).toBe(1); // not asked again at once
  });

  it('over its slots, hands a function that may grow on several agents to the scheduler with its busy counts', async () => {
    const t = setup(() =>
      placed({
        mayGrow: true,
        agents: [
          { id: 'a', invoke: 'a:1', slots: 1 },
          { id: 'b', invoke: 'b:1', slots: 1 },
        ],
      }),
    );
    const releases: (() => void)[] = [];
    for (const at of ['a:1', 'b:1'])
      t.behaviour.set(at, (req) => new Promise((r) => releases.push(() => r(answer(at, req.request.body)))));
    const first = [t.d.invoke(request('1'), 5000), t.d.invoke(request('2'), 5000)];
    await expect.poll(() => t.direct.length).toBe(2);
    await t.d.invoke(request('3'), 5000);
    expect(t.routes).toEqual(['slots-busy']);
    expect(t.viaScheduler[0]?.busy).toEqual({ a: 1, b: 1 });
    for (const r of releases) r();
    await Promise.all(first);
  });

  it('over its slots, sends a function that may grow on its one agent there, to queue and scale out', async () => {
    const t = setup(() => placed({ mayGrow: true }));
    const releases: (() => void)[] = [];
    t.behaviour.set(
      'a:1',
      (req) => new Promise((r) => releases.push(() => r(answer('a', req.request.body)))),
    );
    const calls = [t.d.invoke(request('1'), 5000)];
    await expect.poll(() => t.direct.length).toBe(1);
    calls.push(t.d.invoke(request('2'), 5000));
    await expect.poll(() => t.direct.length).toBe(2);
    expect(t.viaScheduler).toEqual([]);
    expect(t.d.busy('ns/f')).toEqual({ a: 2 });
    for (const r of releases) r();
    await Promise.all(calls);
    expect(t.routes).toEqual(['direct', 'queued-at-agent']);
    expect(t.d.busy('ns/f')).toEqual({});
  });

  it('at max scale, queues a call over the slots until one frees, first come first served', async () => {
    const t = setup(() => placed({ queueWaitMs: 5000 }));
    const releases: (() => void)[] = [];
    t.behaviour.set(
      'a:1',
      (req) => new Promise((r) => releases.push(() => r(answer('a', req.request.body)))),
    );
    const order: string[] = [];
    const calls = ['1', '2', '3'].map((b) =>
      t.d.invoke(request(b), 5000).then((r) => order.push(r.body.toString())),
    );
    await expect.poll(() => t.direct.length).toBe(1);
    releases.shift()?.();
    await expect.poll(() => t.direct.length).toBe(2);
    releases.shift()?.();
    await expect.poll(() => t.direct.length).toBe(3);
    releases.shift()?.();
    await Promise.all(calls);
    expect(order).toEqual(['1', '2', '3']);
    expect(t.viaScheduler).toEqual([]);
  });

  it('answers RESOURCE_EXHAUSTED with a retry-after once the queue wait is over', async () => {
    const t = setup(() => placed({ queueWaitMs: 150 }));
    let release!: () => void;
    t.behaviour.set('a:1', (req) => new Promise((r) => (release = () => r(answer('a', req.request.body)))));
    const first = t.d.invoke(request('1'), 5000);
    await expect.poll(() => t.direct.length).toBe(1);
    await expect(t.d.invoke(request('2'), 5000)).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      details: { retryAfterSeconds: 1 },
    });
    release();
    await first;
  });

  it('drops the placement of an agent it could not reach, leaves it out, and retries through the scheduler', async () => {
    let round = 0;
    const t = setup(() => {
      round++;
      const b = { id: 'b', invoke: 'b:1', slots: 1 };
      return placed({
        agents:
          round === 1 ? [{ id: 'a', invoke: 'a:1', slots: 1 }] : [{ id: 'a', invoke: 'a:1', slots: 2 }, b],
      });
    });
    t.behaviour.set('a:1', () => Promise.reject(new RpcConnectionError('rpc to a:1: ECONNREFUSED')));
    const res = await t.d.invoke(request('retried'), 5000);
    expect(res.agentId).toBe('scheduler');
    expect(res.body.toString()).toBe('retried');
    expect(t.routes).toEqual(['agent-unreachable']);
    // Asked again, and `a` stays out for a while even with more free slots: the next call goes to `b`.
    await t.d.invoke(request('next'), 5000);
    expect(round).toBe(2);
    expect(t.direct.map((c) => c.agent)).toEqual(['a:1', 'b:1']);
  });

  it('answers a timeout without running the call again elsewhere, and leaves the hung agent out', async () => {
    let round = 0;
    const b = { id: 'b', invoke: 'b:1', slots: 1 };
    const t = setup(() => {
      round++;
      return placed({ agents: [{ id: 'a', invoke: 'a:1', slots: 1 }, b] });
    });
    t.behaviour.set('a:1', () => Promise.reject(new RpcTimeoutError('rpc to a:1: no answer', 1000)));
    await expect(t.d.invoke(request('once'), 5000)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(t.viaScheduler).toEqual([]);
    await t.d.invoke(request('next'), 5000);
    expect(round).toBe(2);
    expect(t.direct.map((c) => c.agent)).toEqual(['a:1', 'b:1']);
  });

  it('checks the api key before calling the agent and strips it', async () => {
    const { createHash } = await import('node:crypto');
    const apiKeyHash = createHash('sha256').update('k').digest('hex');
    const t = setup(() => placed({ version: version({ apiKeyHash }) }));
    await expect(t.d.invoke(request(), 5000)).rejects.toMatchObject({ details: { httpStatus: 401 } });
    await t.d.invoke({ ...request(), headers: { 'X-Api-Key': 'k' } }, 5000);
    expect(t.direct[0]?.req.request.headers).toEqual({});
  });
});
