// Case 5: repeated calls of a frozen instance (a pause longer than the pause grace before each
// call, so every call thaws): straight to the agent over Nest TCP, and over HTTPS through
// gateway → scheduler → agent. Platform overhead = end to end minus the in-function time the
// instance reports to the agent (functionMs, not exposed in a response header).
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Redis } from 'ioredis';
import { firstValueFrom } from 'rxjs';
import { deployment, NAMESPACE } from './platform.mjs';
import { sleep, summary } from './stats.mjs';

const PAUSE_MS = 120; // > FLOE_PAUSE_GRACE_MS (50) + freeze time

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

export async function warmCalls(client, { n, log }) {
  const name = 'warm-noop';
  await client.deploy(deployment('node', name));
  await client.invoke(name);
  const version = await activeVersion(client.redisUrl, name);
  const rpc = ClientProxyFactory.create({
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port: client.agent.rpc },
  });
  await rpc.connect();
  const callAgent = () =>
    firstValueFrom(
      rpc.send('agent.invoke', {
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
      }),
    );
  const out = {};
  try {
    log(`warm: ${n} agent calls over Nest TCP, ${PAUSE_MS} ms apart (each thaws a frozen instance)`);
    const agentMs = [];
    const fnMs = [];
    const agentOverhead = [];
    const kinds = {};
    let m0;
    for (let i = 0; i < n + 5; i++) {
      if (i === 5) m0 = await agentMeans(client);
      await sleep(PAUSE_MS);
      const t0 = performance.now();
      const res = await callAgent();
      const t = performance.now() - t0;
      kinds[res.start] = (kinds[res.start] ?? 0) + 1;
      if (i < 5 || res.start !== 'warm') continue;
      agentMs.push(t);
      fnMs.push(res.functionMs);
      agentOverhead.push(t - res.functionMs);
    }
    out.warm_agent_ms = summary(agentMs);
    out.function_ms = summary(fnMs);
    out.agent_overhead_ms = summary(agentOverhead);
    // Where the agent's time goes, from its own histograms (means over the same calls).
    const m1 = await agentMeans(client);
    const mean = (k) =>
      Math.round(((m1[k].sum - m0[k].sum) / Math.max(1, m1[k].count - m0[k].count)) * 1e6) / 1e3;
    out.agent_internal_mean_ms = { thaw: mean('thaw'), invocation: mean('invocation') };
    const rpcMs = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await firstValueFrom(rpc.send('agent.health', {}));
      rpcMs.push(performance.now() - t0);
    }
    out.agent_rpc_health_ms = summary(rpcMs);

    log(`warm: ${n} HTTPS calls through the gateway, ${PAUSE_MS} ms apart`);
    const httpsMs = [];
    for (let i = 0; i < n + 5; i++) {
      await sleep(PAUSE_MS);
      const r = await client.invoke(name);
      kinds[r.start] = (kinds[r.start] ?? 0) + 1;
      if (i >= 5 && r.start === 'warm') httpsMs.push(r.ms);
    }
    out.warm_https_ms = summary(httpsMs);
    const fn = out.function_ms.p50 ?? 0;
    out.platform_overhead_ms = {
      ...summary(httpsMs.map((x) => x - fn)),
      method: `warm_https_ms minus the p50 in-function time the instance reported to the agent (functionMs, ${fn} ms)`,
    };

    log(`warm: ${n} back-to-back HTTPS calls (no pause: the instance stays thawed)`);
    const hot = [];
    for (let i = 0; i < n + 5; i++) {
      const r = await client.invoke(name);
      if (i >= 5) hot.push(r.ms);
    }
    out.hot_https_ms = summary(hot);
    out.warm_start_kinds = kinds;
  } finally {
    await rpc.close();
  }
  return out;
}
