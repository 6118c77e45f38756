// What issue #16's attacker ran as a local user: a Nest TCP message to the RPC ports, a frame
// to the invoke ports, and Redis commands without AUTH. Self-contained (it runs as `nobody`,
// from a copy in a temp dir), it prints one JSON report on stdout:
//   node attacker-probe.mjs '<json targets>' [<certDir> <caDir>]
// With a cert dir (a client certificate of the cluster CA) it authenticates as a service
// would: mutual TLS to the Nest ports, the loopback HMAC handshake (libs/contracts/src/pki/
// loopback-auth.ts, restated here) to the frame ports. That is the e2e spec's control that
// the same messages do get answers from a peer that authenticates.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const targets = JSON.parse(process.argv[2]);
const [certDir, caDir] = process.argv.slice(3);
const creds = certDir && {
  cert: readFileSync(`${certDir}/cert.pem`),
  key: readFileSync(`${certDir}/key.pem`),
  ca: readFileSync(`${caDir}/cert.pem`),
};
const loopbackKey =
  caDir &&
  createHmac('sha256', readFileSync(`${caDir}/key.pem`))
    .update('floe loopback frame auth v1')
    .digest();
const mac = (who, cN, sN) => createHmac('sha256', loopbackKey).update(who).update(cN).update(sN).digest();

function nestMessage(pattern, data) {
  const json = JSON.stringify({ pattern, data, id: 'probe-1' });
  return Buffer.from(`${Buffer.byteLength(json)}#${json}`);
}

function frame(header) {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32BE(json.length, 0);
  prefix.writeUInt32BE(0, 4);
  return Buffer.concat([prefix, json]);
}

/**
 * Connects (plain TCP, or TLS with no client certificate, or with `creds`, or plain TCP after
 * the loopback handshake), writes `payload`, and reports what came back and whether the
 * server closed the connection within `ms`.
 */
function probe(port, payload, mode, ms = 5000) {
  if (mode === 'hmac') return probeHmac(port, payload, ms);
  return new Promise((resolve) => {
    const got = [];
    let error;
    const opts = { host: '127.0.0.1', port, checkServerIdentity: () => undefined };
    const s =
      mode === 'plain'
        ? net.connect(opts)
        : tls.connect({ ...opts, ...(mode === 'cert' ? creds : { rejectUnauthorized: false }) });
    const done = (closed) => {
      clearTimeout(timer);
      s.destroy();
      resolve({
        closed,
        error,
        bytes: Buffer.concat(got).length,
        text: Buffer.concat(got).toString('latin1'),
      });
    };
    // A peer that authenticated gets its answer and keeps the connection: stop at the answer.
    const timer = setTimeout(() => done(false), ms);
    // Without a certificate, TLS 1.3 lets the client write once the server's Finished is in;
    // the server refuses the client's (missing) certificate only then, so this is sent.
    s.on(mode === 'plain' ? 'connect' : 'secureConnect', () => s.write(payload));
    s.on('data', (d) => {
      got.push(d);
      if (mode === 'cert' && Buffer.concat(got).length > 8) setTimeout(() => done(false), 200);
    });
    s.on('error', (e) => {
      error = e.code ?? e.message;
    });
    s.on('close', () => done(true));
  });
}

function probeHmac(port, payload, ms) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const cN = randomBytes(32);
    let got = Buffer.alloc(0);
    let authed = false;
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, bytes: got.length, text: got.toString('latin1') });
    }, ms);
    s.on('connect', () => s.write(Buffer.concat([Buffer.from('FLOEHMC1'), cN])));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (!authed && got.length >= 72) {
        authed = true;
        const sN = got.subarray(8, 40); // after the server's 8-byte magic
        s.write(Buffer.concat([mac('c', cN, sN), payload]));
        got = got.subarray(72);
      } else if (authed && got.length > 8) {
        clearTimeout(timer);
        setTimeout(() => {
          s.destroy();
          resolve({ closed: false, bytes: got.length, text: got.toString('latin1') });
        }, 200);
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, bytes: got.length, text: got.toString('latin1') });
    });
  });
}

/** Raw RESP commands, no AUTH: what `redis-cli keys '*'` sends. */
function redis(port, commands) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    s.on('connect', () => s.write(commands.map((c) => `${c}\r\n`).join('')));
    s.on('data', (d) => {
      text += d.toString();
      if (text.split('\r\n').length > commands.length) s.end();
    });
    s.on('error', () => {});
    s.on('close', () => resolve(text));
    setTimeout(() => s.destroy(), 5000);
  });
}

function tryRead(file) {
  try {
    readFileSync(file);
    return 'read';
  } catch (e) {
    return e.code;
  }
}

const modes = (kind) => (creds ? [kind === 'frame' ? 'hmac' : 'cert'] : ['plain', 'nocert']);
const report = { uid: process.getuid(), ports: [], redis: undefined, files: {} };
for (const t of targets.ports) {
  const payload =
    t.kind === 'nest' ? nestMessage(t.pattern, t.data) : frame({ i: 1, p: t.pattern, d: t.data });
  for (const mode of modes(t.kind))
    report.ports.push({ name: t.name, mode, ...(await probe(t.port, payload, mode)) });
}
if (targets.redis)
  report.redis = await redis(targets.redis, [
    'KEYS *',
    'HGETALL floe:secrets:openfaas-fn',
    'CONFIG GET requirepass',
  ]);
for (const f of targets.files ?? []) report.files[f] = tryRead(f);
process.stdout.write(JSON.stringify(report));
