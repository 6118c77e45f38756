// Bodies are bytes on every hop: a node function echoes `event.body` (a Buffer for
// application/octet-stream) and each answer is checked byte for byte against what was sent.
// Closed loop, one request in flight, over HTTPS through the gateway (keep-alive).
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { codeArchive } from './platform.mjs';
import { summary } from './stats.mjs';

const ECHO = { 'index.js': 'module.exports = async (e) => ({ statusCode: 200, body: e.body });\n' };
const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false, maxSockets: 1 });

function post(url, body) {
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

export async function bodies(client, { n, log }) {
  const name = 'body-echo';
  await client.deploy({ service: name, runtime: 'node', handler: 'index.js', code: codeArchive(ECHO) });
  const url = `${client.url.replace('localhost', '127.0.0.1')}/function/${name}`;
  const out = {};
  for (const [key, size] of [
    ['body_1mib_ms', 1024 * 1024],
    ['body_4mib_ms', 4 * 1024 * 1024],
  ]) {
    const body = randomBytes(size);
    log(`bodies: ${n} × ${size} bytes echoed`);
    for (let i = 0; i < 3; i++) await post(url, body); // connection, JIT, a warm instance
    const ms = [];
    for (let i = 0; i < n; i++) {
      const r = await post(url, body);
      if (r.status !== 200 || !r.body.equals(body))
        throw new Error(`${key}: answer ${r.status} of ${r.body.length} bytes is not the ${size} sent`);
      ms.push(r.ms);
    }
    out[key] = summary(ms);
  }
  return out;
}
