// Bodies are bytes on every hop: a node function echoes `event.body` (a Buffer for
// application/octet-stream) and each answer is checked byte for byte against what was sent.
// Closed loop, one request in flight, over HTTPS through the gateway (keep-alive). Beside it,
// in alternating blocks, the same client against a bare Node HTTPS echo server in its own
// process with the gateway's certificate: what a body costs over TLS on this VM at that moment,
// with no platform in the way.
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { bareEcho } from './bare-echo.mjs';
import { codeArchive } from './platform.mjs';
import { summary } from './stats.mjs';

const ECHO = { 'index.js': 'module.exports = async (e) => ({ statusCode: 200, body: e.body });\n' };
const BLOCK = 10;

function post(url, body, agent) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = https.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, body: Buffer.concat(chunks), ms: performance.now() - t0 }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** `n` timed calls of each target, `BLOCK` at a time in turn, after 3 untimed ones each. */
async function alternate(targets, body, n) {
  const ms = targets.map(() => []);
  for (const t of targets) for (let i = 0; i < 3; i++) await post(t.url, body, t.agent);
  for (let done = 0; done < n; done += BLOCK)
    for (const [k, t] of targets.entries())
      for (let i = 0; i < Math.min(BLOCK, n - done); i++) {
        const r = await post(t.url, body, t.agent);
        if (r.status !== 200 || !r.body.equals(body))
          throw new Error(
            `${t.name}: answer ${r.status} of ${r.body.length} bytes is not the ${body.length} sent`,
          );
        ms[k].push(r.ms);
      }
  return ms.map(summary);
}

export async function bodies(client, { n, log }) {
  const name = 'body-echo';
  await client.deploy({ service: name, runtime: 'node', handler: 'index.js', code: codeArchive(ECHO) });
  const bare = await bareEcho(client.stateDir);
  const agent = () => new https.Agent({ keepAlive: true, rejectUnauthorized: false, maxSockets: 1 });
  const targets = [
    { name: 'floe', url: `${client.url.replace('localhost', '127.0.0.1')}/function/${name}`, agent: agent() },
    { name: 'bare', url: bare.url, agent: agent() },
  ];
  const out = {};
  try {
    for (const [size, key] of [
      [1024 * 1024, '1mib'],
      [4 * 1024 * 1024, '4mib'],
    ]) {
      log(
        `bodies: ${n} × ${size} bytes echoed, in blocks of ${BLOCK} alternating with a bare Node HTTPS echo`,
      );
      const [floe, bareMs] = await alternate(targets, randomBytes(size), n);
      out[`body_${key}_ms`] = floe;
      out[`body_bare_${key}_ms`] = bareMs;
    }
  } finally {
    bare.stop();
    for (const t of targets) t.agent.destroy();
  }
  return out;
}
