import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { EnvReader, ensureClusterTls } from '@floe/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { connectRedis } from './redis.js';
import { freePort, tempState } from './testing/harness.js';

// A real redis-server with TLS and a password, its certificate from a CA of the test's own:
// the scheduler reaches it from REDIS_URL=rediss://user:pass@… and FLOE_REDIS_CA alone.
const state = tempState();
const PASSWORD = 'tls-redis-test-password';
let server: ChildProcess | undefined;
let port = 0;
let caFile = '';

beforeAll(async () => {
  const tls = await ensureClusterTls({
    caDir: path.join(state.dir, 'ca'),
    createCa: true,
    certDir: path.join(state.dir, 'redis-pki'),
    role: 'client',
    name: 'localhost',
  });
  caFile = path.join(state.dir, 'ca', 'cert.pem');
  port = await freePort();
  // The password on the command line is fine for a throwaway test server.
  server = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--tls-cert-file',
      tls.certFile,
      '--tls-key-file',
      path.join(state.dir, 'redis-pki', 'key.pem'),
      '--tls-ca-cert-file',
      caFile,
      '--tls-auth-clients',
      'no',
      '--requirepass',
      PASSWORD,
      '--dir',
      state.dir,
    ],
    { stdio: 'ignore' },
  );
});
afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server?.once('exit', r));
  }
  state.cleanup();
});

function config(url: string) {
  return loadConfig(new EnvReader({ REDIS_URL: url, FLOE_REDIS_CA: caFile, FLOE_STATE_DIR: state.dir }));
}

describe('REDIS_URL over TLS with credentials', () => {
  it('connects with rediss://default:<password>@ and the CA from FLOE_REDIS_CA', async () => {
    const redis = connectRedis(config(`rediss://default:${PASSWORD}@localhost:${port}`), 'main');
    try {
      await expect.poll(() => redis.ping().catch((e: Error) => e.message), { timeout: 10_000 }).toBe('PONG');
    } finally {
      redis.disconnect();
    }
  });

  it('is refused with a wrong password', async () => {
    const redis = connectRedis(config(`rediss://default:wrong@localhost:${port}`), 'main');
    const errors: string[] = [];
    redis.on('error', (e: Error) => errors.push(e.message));
    try {
      await expect.poll(() => errors.join('\n'), { timeout: 10_000 }).toMatch(/WRONGPASS|NOAUTH/);
      await expect(redis.ping()).rejects.toThrow();
    } finally {
      redis.disconnect();
    }
  });
});
