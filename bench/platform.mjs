// The platform under test: its own Redis and temp state dir, started with scripts/lib's
// launcher (the one `npm start` and the e2e suite use), plus the HTTPS and agent-metrics
// client every platform case needs.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { startPlatform } from '../scripts/lib/platform.mjs';
import { startRedis } from '../scripts/lib/redis.mjs';
import { onInterrupt, removeCgroup, sleep } from './stats.mjs';

export const PASSWORD = 'bench-admin-password';
export const NAMESPACE = 'openfaas-fn';

export const FUNCTIONS = {
  noop: { 'index.js': "module.exports = async () => ({ statusCode: 200, body: '' });\n" },
  python: { 'handler.py': "def handle(event, context):\n    return {'statusCode': 200, 'body': ''}\n" },
};

/** A tar.gz of the files, base64, as deploy-with-code takes it. */
export function codeArchive(files) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-bench-code-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    return execFileSync('tar', ['-C', dir, '-cz', '.']).toString('base64');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Deployments per runtime, each doing nothing, so what is timed is the platform. */
export function deployment(runtime, service, extra = {}) {
  if (runtime === 'node')
    return { service, runtime, handler: 'index.js', code: codeArchive(FUNCTIONS.noop), ...extra };
  if (runtime === 'python')
    return { service, runtime, handler: 'handler.handle', code: codeArchive(FUNCTIONS.python), ...extra };
  return { service, runtime: 'exec', envProcess: 'cat', ...extra };
}

const httpsAgent = new https.Agent({ keepAlive: true, rejectUnauthorized: false, maxSockets: 64 });

function request(url, { method = 'GET', body, auth = false, agent = httpsAgent, contentType } = {}) {
  const headers = contentType ? { 'content-type': contentType } : {};
  if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) {
    body = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  if (auth) headers.authorization = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = mod.request(url, { method, headers, agent: mod === https ? agent : undefined }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          text: Buffer.concat(chunks).toString(),
          ms: performance.now() - t0,
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

function leftoverMounts(dir) {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m && (m === dir || m.startsWith(`${dir}/`)))
    .reverse();
}

/** Prometheus text → [{name, labels, value}]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
    );
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/**
 * Starts Redis + platform in a temp dir, runs `fn(client)`, and stops everything after, even
 * on failure: platform (which destroys its containers), Redis, the agent's cgroup parent, the dir.
 */
export async function withPlatform({ work, label, env = {}, log }, fn) {
  const dir = mkdtempSync(path.join(work, `platform-${label}-`));
  const t0 = performance.now();
  const redis = await startRedis({ dir: path.join(dir, 'redis'), persist: false });
  let platform;
  let stopping;
  // Memoized: the interrupt handler and the finally below may both ask, and both must wait.
  const teardown = () => (stopping ??= stopAll());
  const stopAll = async () => {
    await platform?.stop();
    redis.child.kill('SIGTERM');
    if (platform) removeCgroup(`floe-${platform.agents[0].id}`);
    // Never rm -rf through a mount the agent failed to take down: detach it and say so.
    const left = leftoverMounts(dir);
    for (const m of left) spawnSync('umount', ['-l', m]);
    if (left.length) log(`platform ${label}: ${left.length} mount(s) left behind under ${dir}, detached`);
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onInterrupt(teardown);
  try {
    platform = await startPlatform({
      stateDir: dir,
      redisUrl: redis.url,
      quiet: process.env.FLOE_BENCH_VERBOSE !== '1',
      env: { FLOE_ADMIN_PASSWORD: PASSWORD, ...env },
    });
    log(`platform ${label} up in ${Math.round(performance.now() - t0)} ms (${JSON.stringify(env)})`);
    const agent = platform.agents[0];
    const client = {
      env,
      url: platform.url,
      stateDir: dir,
      redisUrl: redis.url,
      agent,
      scheduler: { http: platform.scheduler.http, pid: platform.scheduler.child.pid },
      /** The platform's client certificate (undefined with FLOE_INTERNAL_AUTH=off). */
      internalTls: env.FLOE_INTERNAL_AUTH === 'off' ? undefined : platform.internalTls,
      cgroupParent: `floe-${agent.id}`,
      request: (p, opts) => request(new URL(p, platform.url).href, opts),
      async deploy(dep) {
        const r = await request(`${platform.url}/system/functions`, {
          method: 'POST',
          body: dep,
          auth: true,
        });
        if (r.status >= 300) throw new Error(`deploy ${dep.service}: ${r.status} ${r.text}`);
      },
      /** Uploads an image archive under `ref`, as a user does with POST /floe/images. */
      async importImage(archive, ref) {
        const r = await request(`${platform.url}/floe/images?ref=${encodeURIComponent(ref)}`, {
          method: 'POST',
          body: readFileSync(archive),
          contentType: 'application/x-tar',
          auth: true,
        });
        if (r.status >= 300) throw new Error(`import ${ref}: ${r.status} ${r.text}`);
      },
      async invoke(name, body = '') {
        const r = await request(`${platform.url}/function/${name}`, { method: 'POST', body });
        if (r.status !== 200) throw new Error(`invoke ${name}: ${r.status} ${r.text}`);
        return {
          ms: r.ms,
          start: r.headers['x-floe-start'],
          seconds: Number(r.headers['x-duration-seconds']),
        };
      },
      async metrics() {
        const r = await request(`http://127.0.0.1:${agent.http}/metrics`);
        return parseMetrics(r.text);
      },
      /** Containers on the agent by state (and runtime when given), from floe_agent_containers. */
      async containers(state, runtime) {
        return (await client.metrics())
          .filter((m) => m.name === 'floe_agent_containers' && m.labels.state === state)
          .filter((m) => !runtime || m.labels.runtime === runtime)
          .reduce((a, m) => a + m.value, 0);
      },
      async waitFor(what, pred, timeoutMs = 60_000) {
        const end = Date.now() + timeoutMs;
        for (;;) {
          const v = await pred();
          if (v) return v;
          if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
          await sleep(20);
        }
      },
    };
    return await fn(client);
  } finally {
    const t1 = performance.now();
    await teardown();
    unregister();
    log(`platform ${label} stopped in ${Math.round(performance.now() - t1)} ms`);
  }
}
