// Measures the gateway's own overhead on a warm invoke: the built gateway (dist/main.js, run
// `npx tsc -b apps/gateway` first) in its own process, against a fake scheduler that answers
// `invoke` at once over the invoke fast path's framing (Floe frames with JSON headers; management calls
// over Nest's `<len>#<json>`), driven by wrk over HTTPS with keep-alive. Usage: node apps/gateway/bench/overhead.mjs [seconds]
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const seconds = Number(process.argv[2] ?? 8);
const here = path.dirname(fileURLToPath(import.meta.url));
const main = path.join(here, '../dist/main.js');
const run = promisify(execFile);

/** The InvokeResponse echoing the request body, instantly. */
const echo = (req) => ({
  status: 200,
  headers: { 'content-type': 'text/plain' },
  body: req.body,
  start: 'warm',
  functionMs: 0,
  agentId: 'a',
  instanceId: 'i',
});

/** The scheduler's invoke fast path: Floe frames `[u32 BE header len][u32 BE body len][header]`, header `{i, p, d}` in, `{i, r}` out. */
function fakeInvokeChannel() {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8 && buf.length >= 8 + buf.readUInt32BE(0) + buf.readUInt32BE(4)) {
        const len = buf.readUInt32BE(0);
        const msg = JSON.parse(buf.toString('utf8', 8, 8 + len));
        buf = buf.subarray(8 + len + buf.readUInt32BE(4));
        const json = Buffer.from(JSON.stringify({ i: msg.i, r: echo(msg.d) }));
        const head = Buffer.alloc(8);
        head.writeUInt32BE(json.length);
        sock.write(Buffer.concat([head, json]));
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** A scheduler's management side (Nest TCP framing); invoke answers here too. */
function fakeScheduler() {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => {}); // the gateway going away at the end is expected
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      buf += d;
      for (;;) {
        const hash = buf.indexOf('#');
        if (hash === -1) return;
        const len = Number(buf.slice(0, hash));
        if (buf.length < hash + 1 + len) return;
        const packet = JSON.parse(buf.slice(hash + 1, hash + 1 + len));
        buf = buf.slice(hash + 1 + len);
        let response;
        if (packet.pattern === 'agents.list') response = [{ id: 'bench' }];
        else if (packet.pattern === 'invoke') response = echo(packet.data);
        else response = [];
        const json = JSON.stringify({ id: packet.id, response, isDisposed: true });
        sock.write(`${json.length}#${json}`);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function get(url, body = false) {
  return new Promise((resolve) => {
    https
      .get(url, { rejectUnauthorized: false }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve(body ? text : res.statusCode));
      })
      .on('error', () => resolve(0));
  });
}

/** p50/p99 of floe_gateway_invoke_overhead_seconds{start="warm"} from its cumulative buckets (upper bounds). */
function overheadQuantiles(metrics) {
  const buckets = [
    ...metrics.matchAll(/floe_gateway_invoke_overhead_seconds_bucket\{le="([^"]+)",start="warm"\} (\d+)/g),
  ].map((m) => [Number(m[1]), Number(m[2])]);
  const total = buckets.at(-1)?.[1] ?? 0;
  const q = (p) => buckets.find(([, n]) => n >= p * total)?.[0];
  return { count: total, p50: `<= ${q(0.5) * 1000} ms`, p99: `<= ${q(0.99) * 1000} ms` };
}

const fake = await fakeScheduler();
const fakeInvoke = await fakeInvokeChannel();
const port = await freePort();
const state = mkdtempSync(path.join(os.tmpdir(), 'floe-gw-bench-'));
const gw = spawn(process.execPath, [main], {
  env: {
    ...process.env,
    FLOE_STATE_DIR: state,
    FLOE_GATEWAY_HOST: '127.0.0.1',
    FLOE_GATEWAY_PORT: String(port),
    FLOE_SCHEDULER_RPC: `127.0.0.1:${fake.address().port}`,
    FLOE_SCHEDULER_INVOKE: `127.0.0.1:${fakeInvoke.address().port}`,
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
try {
  const base = `https://127.0.0.1:${port}`;
  for (let i = 0; (await get(`${base}/healthz`)) !== 200; i++) {
    if (i > 100) throw new Error('gateway did not become healthy');
    await new Promise((r) => setTimeout(r, 100));
  }
  const lua = path.join(state, 'post.lua');
  writeFileSync(lua, 'wrk.method = "POST"\nwrk.body = "hello"\nwrk.headers["Content-Type"] = "text/plain"\n');
  const url = `${base}/function/echo`;
  // Warm up JIT and connections before measuring.
  await run('wrk', ['-t1', '-c4', '-d2s', '-s', lua, url]);
  const measure = async (what, target, c, script) => {
    const args = ['-t1', `-c${c}`, `-d${seconds}s`, '--latency', ...(script ? ['-s', script] : []), target];
    const { stdout } = await run('wrk', args);
    const pick = (re) => (re.exec(stdout) ?? [])[1];
    console.log(
      `${what} connections=${c}: ${pick(/Requests\/sec:\s+([\d.]+)/)} req/s, p50 ${pick(/\s50%\s+(\S+)/)}, p90 ${pick(/\s90%\s+(\S+)/)}, p99 ${pick(/\s99%\s+(\S+)/)}, errors: ${/Non-2xx|Socket errors/.test(stdout) ? 'yes' : 'none'}`,
    );
  };
  await measure('POST /function/echo (raw Fastify route)', url, 1, lua);
  console.log(
    '  in-gateway time (handler start to reply, RPC included):',
    overheadQuantiles(await get(`${base}/metrics`, true)),
  );
  for (const c of [16, 64]) await measure('POST /function/echo (raw Fastify route)', url, c, lua);
  // Floor: a bare node:https server answering at once with the same cert, in this process.
  const bare = https.createServer(
    {
      key: readFileSync(path.join(state, 'gateway/tls/key.pem')),
      cert: readFileSync(path.join(state, 'gateway/tls/cert.pem')),
    },
    (req, res) => {
      req.resume();
      req.on('end', () => res.end('hello'));
    },
  );
  await new Promise((r) => bare.listen(0, '127.0.0.1', r));
  await measure(
    'bare node:https (floor: TLS + HTTP only)',
    `https://127.0.0.1:${bare.address().port}/`,
    1,
    lua,
  );
  bare.close();
  // Same work (one RPC, small answer) through Nest's router and exception layer, for comparison.
  for (const c of [1, 16]) await measure('GET /healthz (Nest controller)', `${base}/healthz`, c);
} finally {
  gw.kill('SIGTERM');
  fake.close();
  fakeInvoke.close();
  rmSync(state, { recursive: true, force: true });
}
