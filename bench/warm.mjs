// Case 5: warm calls. Straight to the agent over its invoke fast path (the scheduler's
// route), and over HTTPS through the gateway, whose direct route calls the agent itself:
// - frozen closed loop (`frozenLoop`, an agent with a pause grace of 0, which freezes an
//   instance as soon as its reply is written): thaw, call, freeze, back to back, as the
//   floor's loop does, with no idle time between; the agent is dialled as the scheduler and
//   gateway on its host dial it, on its unix socket;
// - after 120 ms idle: the same frozen instance, as a function called now and then sees it
//   (CPU idle exit on every process of the chain included; the floor has its own figure);
// - one request in flight over HTTPS (wrk -c1, keep-alive): the instance stays warm, and
//   the platform's overhead is that latency minus the in-function time.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { root } from '../scripts/lib/setup.mjs';
import { bareEcho } from './bare-echo.mjs';
import { openEngine } from './engine.mjs';
import { openFloor } from './floor.mjs';
import { deployment, NAMESPACE } from './platform.mjs';
import { benchDir, CLEAN_ENV, sleep, summary } from './stats.mjs';
import { parseWrk } from './throughput.mjs';

const PAUSE_MS = 120; // > FLOE_PAUSE_GRACE_MS (50) + freeze time
const run = promisify(execFile);

/** The active FunctionVersion, as the scheduler hands it to the agent (from Redis). */
async function activeVersion(redisUrl, name) {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  try {
    await redis.connect();
    const all = await redis.hgetall(`floe:fnv:${NAMESPACE}:${name}`);
    const latest = Object.keys(all)
      .filter((k) => /^\d+$/.test(k))
      .sort((a, b) => b - a)[0];
    if (!latest) throw new Error(`no version of ${name} in redis`);
    return JSON.parse(all[latest]);
  } finally {
    redis.disconnect();
  }
}

/** Where the agent's invoke fast path listens, as it announces it in Redis (AgentInfo). */
async function agentInfo(redisUrl, id) {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  try {
    await redis.connect();
    const raw = await redis.get(`floe:agents:${id}`);
    if (!raw) throw new Error(`agent ${id} has no heartbeat in redis`);
    return JSON.parse(raw);
  } finally {
    redis.disconnect();
  }
}

/** A deployed no-op node function and a client on the agent's invoke fast path, as the scheduler calls it. */
async function agentCaller(client, name) {
  const { AgentInvokeClient, FrameRpcClient, invokeDialAddress } = await import(
    path.join(root, 'libs/contracts/dist/index.js')
  );
  await client.deploy(deployment('node', name));
  await client.invoke(name);
  const version = await activeVersion(client.redisUrl, name);
  // The scheduler's client: dialled as it dials (the agent's unix socket on this host), the
  // version travels whole once, then by ref.
  const info = await agentInfo(client.redisUrl, client.agent.id);
  const rpc = new AgentInvokeClient(
    new FrameRpcClient(invokeDialAddress(info.invoke, info.invokeSocket), { tls: client.internalTls }),
  );
  const call = () =>
    rpc.invoke(
      {
        version,
        request: {
          callId: randomUUID(),
          function: name,
          namespace: NAMESPACE,
          method: 'POST',
          path: '/',
          query: '',
          headers: {},
          body: '',
        },
      },
      10_000,
    );
  return { call, version, close: () => rpc.close() };
}

/** Times `n` calls (after `warmup` untimed ones), each after `before()`; counts start kinds. */
async function timed(call, { n, warmup = 20, before = async () => {} }) {
  const ms = [];
  const fn = [];
  const agent = [];
  const kinds = {};
  let last;
  for (let i = 0; i < n + warmup; i++) {
    await before(last);
    const t0 = performance.now();
    last = await call();
    const t = performance.now() - t0;
    kinds[last.start] = (kinds[last.start] ?? 0) + 1;
    if (i < warmup || last.start !== 'warm') continue;
    ms.push(t);
    fn.push(last.functionMs);
    agent.push(last.agentMs);
  }
  return { ms, fn, agent, kinds, last };
}

/** Cumulative sum/count of the agent's thaw and warm-invocation histograms. */
async function agentMeans(client) {
  const m = await client.metrics();
  const pick = (name, pred = () => true) => ({
    sum: m.filter((x) => x.name === `${name}_sum` && pred(x.labels)).reduce((a, x) => a + x.value, 0),
    count: m.filter((x) => x.name === `${name}_count` && pred(x.labels)).reduce((a, x) => a + x.value, 0),
  });
  return {
    thaw: pick('floe_agent_thaw_duration_seconds'),
    invocation: pick('floe_agent_invocation_duration_seconds', (l) => l.start === 'warm'),
  };
}

const meanMs = (a, b, k) =>
  Math.round(((b[k].sum - a[k].sum) / Math.max(1, b[k].count - a[k].count)) * 1e6) / 1e3;

/**
 * The frozen closed loop; run it on a platform whose agent has FLOE_PAUSE_GRACE_MS=0, which
 * freezes an instance as soon as its reply is written. Back-to-back calls then each thaw a
 * frozen instance, call it, and leave it to be frozen again: the floor's loop, through the
 * agent. The agent's thaw counter checks that every timed call thawed.
 *
 * Three loops run in alternating blocks, so that they see the same load from this VM's
 * neighbours (measured minutes apart, the floor alone moved by up to 2×):
 * - `warm_agent_ms`: from another process over the agent's invoke fast path, as the
 *   scheduler calls it (one more Node-to-Node round trip than the floor has);
 * - `warm_engine_ms`: the agent's engine (agent-core) in this process, as the floor drives
 *   the runtime lib in this process: thaw, call, response, freeze;
 * - `floor_interleaved_ms`: the floor's own loop.
 */
export async function frozenLoop(client, { n, log, work, plain }) {
  const agent = await agentCaller(client, 'frozen-noop');
  // The same loop on a platform without internal TLS (`plain`), when given: its cost.
  const unauth = plain && (await agentCaller(plain, 'frozen-noop'));
  const rig = await openFloor({ work, log, name: 'floor-beside' });
  let engine;
  try {
    engine = await openEngine({ work, redisUrl: client.redisUrl, version: agent.version });
    log(
      `warm: ${n} agent calls, each thawing an instance frozen right after the call before, in blocks alternating with ${n} engine and ${n} floor cycles`,
    );
    // JITs warm up as they would serving any steady load, then the timed calls.
    await timed(agent.call, { n: 0, warmup: 2000 });
    if (unauth) await timed(unauth.call, { n: 0, warmup: 2000 });
    for (let i = 0; i < 2000; i++) await engine.cycle();
    for (let i = 0; i < 200; i++) await rig.cycle();
    const m0 = await agentMeans(client);
    const e0 = engine.thaws();
    const BLOCK = 50;
    const r = { ms: [], agent: [], fn: [] };
    const floorMs = [];
    const plainMs = [];
    const engineMs = [];
    for (let done = 0; done < n; done += BLOCK) {
      const k = Math.min(BLOCK, n - done);
      // With `plain`, every other block runs it first, so neither loop always follows the floor's.
      const plainFirst = unauth && (done / BLOCK) % 2 === 1;
      if (plainFirst) plainMs.push(...(await timed(unauth.call, { n: k, warmup: 0 })).ms);
      const b = await timed(agent.call, { n: k, warmup: 0 });
      r.ms.push(...b.ms);
      r.agent.push(...b.agent);
      r.fn.push(...b.fn);
      if (unauth && !plainFirst) plainMs.push(...(await timed(unauth.call, { n: k, warmup: 0 })).ms);
      for (let i = 0; i < k; i++) {
        const c = await engine.cycle();
        if (c.start !== 'warm' || !c.frozen)
          throw new Error(`engine loop: a ${c.start} call, frozen after: ${c.frozen}`);
        engineMs.push(c.total);
      }
      for (let i = 0; i < k; i++) floorMs.push((await rig.cycle()).total);
    }
    const m1 = await agentMeans(client);
    const thaws = m1.thaw.count - m0.thaw.count;
    if (thaws < n) throw new Error(`frozen loop: only ${thaws} of ${n} calls thawed their instance`);
    if (engine.thaws() - e0 < n)
      throw new Error(`engine loop: only ${engine.thaws() - e0} of ${n} calls thawed`);
    return {
      warm_agent_ms: summary(r.ms),
      ...(unauth ? { warm_agent_plain_ms: summary(plainMs) } : {}),
      warm_engine_ms: summary(engineMs),
      floor_interleaved_ms: summary(floorMs),
      warm_agent_internal_ms: summary(r.agent),
      function_frozen_ms: summary(r.fn),
      frozen_loop_agent_mean_ms: { thaw: meanMs(m0, m1, 'thaw'), invocation: meanMs(m0, m1, 'invocation') },
    };
  } finally {
    agent.close();
    unauth?.close();
    await engine?.close();
    await rig.close();
  }
}

export async function warmCalls(client, { n, seconds, log }) {
  const name = 'warm-noop';
  const agent = await agentCaller(client, name);
  const out = {};
  const kinds = {};
  const tally = (k) => {
    for (const [s, c] of Object.entries(k)) kinds[s] = (kinds[s] ?? 0) + c;
  };
  try {
    log(`warm: ${n * 3} back-to-back agent calls (the instance stays thawed)`);
    const hot = await timed(agent.call, { n: n * 3, warmup: 2000 });
    tally(hot.kinds);
    out.hot_agent_ms = summary(hot.ms);
    out.function_ms = summary(hot.fn);

    log(`warm: ${n} agent calls, ${PAUSE_MS} ms apart (each thaws a frozen instance)`);
    const m0 = await agentMeans(client);
    const idle = await timed(agent.call, { n, warmup: 5, before: () => sleep(PAUSE_MS) });
    const m1 = await agentMeans(client);
    tally(idle.kinds);
    out.warm_agent_after_idle_ms = summary(idle.ms);
    out.function_after_idle_ms = summary(idle.fn);
    out.agent_internal_mean_ms = { thaw: meanMs(m0, m1, 'thaw'), invocation: meanMs(m0, m1, 'invocation') };

    // Over HTTPS, with wrk's lean C client: a Node client's own wake-up after idle would
    // add ~1 ms that is not the platform's. Right after it, the same wrk script against a bare
    // Node HTTPS echo server: what TLS and one Node process cost after idle at that moment.
    const url = `${client.url.replace('localhost', '127.0.0.1')}/function/${name}`;
    const secs = Math.max(3, Math.ceil((n * (PAUSE_MS + 5)) / 1000));
    const pacedWrk = async (target) =>
      parseWrk(
        (
          await run(
            'wrk',
            ['-t1', '-c1', `-d${secs}s`, '--latency', '-s', path.join(benchDir, 'idle-120ms.lua'), target],
            { env: CLEAN_ENV, timeout: (secs + 30) * 1000 },
          )
        ).stdout,
      );
    log(
      `warm: wrk -c1 with ${PAUSE_MS} ms idle before each call, ${secs} s, then a bare Node HTTPS echo the same way`,
    );
    const paced = await pacedWrk(url);
    out.warm_https_ms = {
      p50: paced.latency_ms.p50,
      p95: null,
      p99: paced.latency_ms.p99,
      n: paced.requests,
    };
    const bare = await bareEcho(client.stateDir);
    try {
      const b = await pacedWrk(bare.url);
      out.bare_https_after_idle_ms = {
        p50: b.latency_ms.p50,
        p95: null,
        p99: b.latency_ms.p99,
        n: b.requests,
      };
    } finally {
      bare.stop();
    }
    const fnIdle = out.function_after_idle_ms.p50 ?? 0;
    const lessIdle = (x) => (x === null ? null : Math.round((x - fnIdle) * 1000) / 1000);
    out.platform_overhead_after_idle_ms = {
      p50: lessIdle(paced.latency_ms.p50),
      p95: null,
      p99: lessIdle(paced.latency_ms.p99),
      n: paced.requests,
      method: `wrk -t1 -c1 over HTTPS keep-alive, ${PAUSE_MS} ms idle before each call (${paced.errors} errors), minus the p50 in-function time after idle (${fnIdle} ms)`,
    };

    // One request in flight, closed loop, keep-alive: wrk's own latency percentiles (no p95).
    log(`warm: wrk -c1 for ${seconds} s (one request in flight)`);
    await run('wrk', ['-t1', '-c1', '-d2s', url], { env: CLEAN_ENV });
    const { stdout } = await run('wrk', ['-t1', '-c1', `-d${seconds}s`, '--latency', url], {
      env: CLEAN_ENV,
      timeout: (seconds + 30) * 1000,
    });
    const w = parseWrk(stdout);
    const fn = out.function_ms.p50 ?? 0;
    const less = (x) => (x === null ? null : Math.round((x - fn) * 1000) / 1000);
    out.one_inflight_https_ms = { p50: w.latency_ms.p50, p95: null, p99: w.latency_ms.p99, n: w.requests };
    out.platform_overhead_ms = {
      p50: less(w.latency_ms.p50),
      p95: null,
      p99: less(w.latency_ms.p99),
      n: w.requests,
      errors: w.errors,
      method: `wrk -t1 -c1 over HTTPS keep-alive (${Math.round(w.rps)} req/s, ${w.errors} errors), minus the p50 in-function time of back-to-back calls (${fn} ms)`,
    };

    log(`warm: ${n} back-to-back HTTPS calls from Node's https client`);
    const hotHttps = await timed(() => client.invoke(name).then((r) => ({ ...r, functionMs: 0 })), {
      n,
      warmup: 20,
    });
    tally(hotHttps.kinds);
    out.hot_https_ms = summary(hotHttps.ms);
    out.warm_start_kinds = kinds;
  } finally {
    agent.close();
  }
  return out;
}
