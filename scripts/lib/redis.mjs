// An embedded Redis for `npm start` and `npm test` when REDIS_URL is unset.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true once Redis answers PING after AUTH with `password`. */
async function ping(port, password) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.once('connect', () => s.write(`AUTH ${password}\r\nPING\r\n`));
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('+PONG') || got.startsWith('-')) {
        s.destroy();
        resolve(got.includes('+PONG'));
      }
    });
    s.once('error', () => resolve(false));
    s.once('close', () => resolve(false));
  });
}

/** `<dir>/password`, 0600, made once: a restarted Redis keeps its clients' URL. */
function passwordIn(dir) {
  const file = path.join(dir, 'password');
  try {
    const pw = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(pw)) return { file, password: pw };
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  const password = randomBytes(32).toString('hex');
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { file, password };
}

/**
 * Starts redis-server with AOF on in `dir` (so a restart loses no function and no accepted
 * async call) and resolves once it answers PING. It binds to loopback and requires the
 * password in `<dir>/password` (0600; `dir` is 0700). The password reaches redis-server in
 * a 0600 config file, not on its command line, which any local user could read in /proc.
 * The URL carries it (`redis://default:<password>@…`): log `where`, never `url`.
 */
export async function startRedis({ dir, port, persist = true }) {
  port ??= await freePort();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const { file, password } = passwordIn(dir);
  const conf = path.join(dir, 'redis.conf');
  const lines = [
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode yes',
    `dir ${JSON.stringify(dir)}`,
    'save ""',
    `appendonly ${persist ? 'yes' : 'no'}`,
    `requirepass ${password}`,
  ];
  writeFileSync(conf, `${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(conf, 0o600);
  const child = spawn('redis-server', [conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  const where = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    if (await ping(port, password))
      return { child, port, where, passwordFile: file, url: `redis://default:${password}@${where}` };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer on port ${port}`);
}
