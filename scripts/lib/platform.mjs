// Starts and stops a whole platform: scheduler, node-agent(s) and gateway as child processes.
// Used by `npm start`, the e2e suite and the bench, so all three run the same thing.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './redis.mjs';
import { root } from './setup.mjs';
import { supervise } from './supervisor.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function httpGet(url) {
  return new Promise((resolve) => {
    // No keep-alive: a pooled socket would outlive the check and hold its caller's event loop.
    const req = https.get(url, { rejectUnauthorized: false, timeout: 1000, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * V8 flags every service starts with (infra/systemd and infra/k8s say the same). A service's
 * heap is ~20 MB, so V8's first old-space limit is low, and the megabyte buffers a body leaves
 * on each hop count against it: a 1 MiB echo set off a full mark-compact every ~4 calls in
 * the agent (~20 ms of marking each). A higher starting limit lets the scavenger free them.
 */
export const SERVICE_NODE_FLAGS = ['--initial-old-space-size=64'];

function startService(name, script, env, _logDir, quiet) {
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, path.join(root, script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', quiet ? 'ignore' : 'inherit', quiet ? 'ignore' : 'inherit'],
  });
  child.floeName = name;
  return child;
}

/**
 * @param {{ stateDir: string, redisUrl: string, agents?: number, gatewayPort?: number, env?: object, quiet?: boolean }} opts
 */
export async function startPlatform(opts) {
  const { stateDir, redisUrl, quiet = false } = opts;
  mkdirSync(stateDir, { recursive: true });
  // Functions' roots are unprivileged host ids: they must pass through the state dir (o+x, not
  // o+r) to their mount points, also those of agents whose state dirs nest in it.
  chmodSync(stateDir, statSync(stateDir).mode | 0o001);
  const port = opts.gatewayPort ?? (await freePort());
  // `npm start` keeps the documented ports (so infra/prometheus targets work); tests take free ones.
  const fixed = opts.fixedPorts === true;
  const schedRpc = fixed ? 7001 : await freePort();
  const schedHttp = fixed ? 7002 : await freePort();
  const schedInvoke = fixed ? 7003 : await freePort();
  // One cluster CA for every service, agents with state dirs of their own included, made
  // here on first start (libs/contracts/src/pki/cluster-pki.ts), with a client certificate
  // for the bench and tests that call a service's internal port as another service would.
  const caDir = path.join(stateDir, 'pki', 'ca');
  const { ensureClusterTls } = await import(path.join(root, 'libs/contracts/dist/index.js'));
  const internalTls = await ensureClusterTls({
    caDir,
    createCa: true,
    certDir: path.join(stateDir, 'pki', 'client'),
    role: 'client',
    name: 'platform-client',
  });
  const common = { REDIS_URL: redisUrl, FLOE_STATE_DIR: stateDir, FLOE_CA_DIR: caDir, ...opts.env };
  const children = [];
  const schedEnv = {
    ...common,
    FLOE_SCHEDULER_RPC: `127.0.0.1:${schedRpc}`,
    FLOE_SCHEDULER_HTTP: `127.0.0.1:${schedHttp}`,
    FLOE_SCHEDULER_INVOKE: `127.0.0.1:${schedInvoke}`,
  };
  const scheduler = startService('scheduler', 'apps/scheduler/dist/main.js', schedEnv, stateDir, quiet);
  children.push(scheduler);
  const agents = [];
  for (let i = 0; i < (opts.agents ?? 1); i++) {
    const base = fixed ? os.hostname() : path.basename(stateDir);
    const id = `agent-${i}-${base}`.replace(/[^a-zA-Z0-9-]/g, '-').replace(/-+/g, '-');
    const agentState = i === 0 ? stateDir : path.join(stateDir, `agent-${i}`);
    const rpc = fixed ? 7101 + 2 * i : await freePort();
    const http = fixed ? 7102 + 2 * i : await freePort();
    const invoke = fixed ? 7201 + i : await freePort();
    const agentEnv = {
      ...common,
      FLOE_STATE_DIR: agentState,
      ...(opts.layerDir && i === 0 ? { FLOE_LAYER_DIR: opts.layerDir } : {}),
      FLOE_AGENT_ID: id,
      FLOE_SCHEDULER_RPC: `127.0.0.1:${schedRpc}`,
      FLOE_AGENT_RPC: `127.0.0.1:${rpc}`,
      FLOE_AGENT_HTTP: `127.0.0.1:${http}`,
      FLOE_AGENT_INVOKE: `127.0.0.1:${invoke}`,
    };
    const child = startService(`agent-${i}`, 'apps/node-agent/dist/main.js', agentEnv, stateDir, quiet);
    const entry = { id, rpc, http, invoke, stateDir: agentState, child };
    // After a kill -9, a restart with the same env recovers (destroys) what the agent owned.
    entry.restart = () => {
      const next = startService(`agent-${i}`, 'apps/node-agent/dist/main.js', agentEnv, stateDir, quiet);
      children[children.indexOf(entry.child)] = next;
      entry.child = next;
      return next;
    };
    agents.push(entry);
    children.push(child);
  }
  const gwEnv = {
    ...common,
    FLOE_GATEWAY_PORT: String(port),
    FLOE_SCHEDULER_RPC: `127.0.0.1:${schedRpc}`,
    FLOE_SCHEDULER_INVOKE: `127.0.0.1:${schedInvoke}`,
  };
  const gateway = startService('gateway', 'apps/gateway/dist/main.js', gwEnv, stateDir, quiet);
  children.push(gateway);

  const url = `https://localhost:${port}`;
  let unsupervise = () => {};
  const stop = () => {
    unsupervise();
    return stopAll(children);
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  for (;;) {
    const dead = children.find((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead) {
      await stop();
      throw new Error(`${dead.floeName} exited during start (${dead.exitCode ?? dead.signalCode})`);
    }
    if ((await httpGet(`${url}/healthz`)) === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`platform not healthy at ${url}/healthz in time`);
    }
    await sleep(200);
  }
  const schedulerInfo = { rpc: schedRpc, http: schedHttp, invoke: schedInvoke, child: scheduler };
  if (opts.supervise) {
    // A restarted service takes the place of the dead one in `children`, so stop() reaches it.
    const replace = (name, script, env) => (old) => {
      const next = startService(name, script, env, stateDir, quiet);
      children[children.indexOf(old())] = next;
      return next;
    };
    const svc = [
      { name: 'scheduler', child: scheduler },
      ...agents.map((a, i) => ({ name: `agent-${i}`, child: a.child, agent: a })),
      { name: 'gateway', child: gateway },
    ];
    for (const x of svc) {
      if (x.agent) x.restart = () => x.agent.restart();
      else {
        const [script, env] =
          x.name === 'scheduler'
            ? ['apps/scheduler/dist/main.js', schedEnv]
            : ['apps/gateway/dist/main.js', gwEnv];
        const swap = replace(x.name, script, env);
        x.restart = () => {
          const next = swap(() => x.child);
          if (x.name === 'scheduler') schedulerInfo.child = next;
          return next;
        };
      }
    }
    unsupervise = supervise(svc, opts.log ?? ((m) => process.stderr.write(`[floe] ${m}\n`)));
  }
  const credFile = path.join(stateDir, 'gateway/admin-credentials');
  let credentials;
  try {
    credentials = readFileSync(credFile, 'utf8').trim();
  } catch {}
  return {
    url,
    port,
    credentials,
    credFile,
    caDir,
    internalTls,
    scheduler: schedulerInfo,
    agents,
    gateway,
    stop,
  };
}

async function stopAll(children) {
  // Gateway first, agents last: agents tear down containers, which takes the longest.
  for (const c of [...children].reverse())
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  const exited = (c) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r));
  const all = Promise.all(children.map(exited));
  // An agent still building its layer store finishes that before it tears down: give it time.
  // The timer is cleared once all are gone, or it would hold the caller's process for a minute.
  let timer;
  const timeout = new Promise((r) => {
    timer = setTimeout(() => r('timeout'), 60_000);
  });
  const outcome = await Promise.race([all, timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await all;
  }
}
