// A bare Node HTTPS echo server in its own process, with the gateway's certificate: what the
// same client pays for TLS and one Node process at that moment of this VM, with no platform.
// The bodies case times megabytes against it; the warm case, a call after 120 ms idle.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { CLEAN_ENV } from './stats.mjs';

// Reads the body whole, as the gateway does, and writes it back.
const BARE = `const https = require('node:https'), fs = require('node:fs');
const s = https.createServer({ cert: fs.readFileSync(process.env.CERT), key: fs.readFileSync(process.env.KEY) }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => { const b = Buffer.concat(chunks); res.writeHead(200, { 'content-length': b.length }); res.end(b); });
});
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));`;

/** Starts it with the certificate of the platform at `stateDir`; resolves to its URL and a stop function. */
export function bareEcho(stateDir) {
  const tls = path.join(stateDir, 'gateway', 'tls');
  const child = spawn(process.execPath, ['-e', BARE], {
    env: { ...CLEAN_ENV, CERT: path.join(tls, 'cert.pem'), KEY: path.join(tls, 'key.pem') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bare echo server exited (${code})`)));
    child.stdout.once('data', (d) =>
      resolve({ url: `https://127.0.0.1:${String(d).trim()}/`, stop: () => child.kill('SIGKILL') }),
    );
  });
}
