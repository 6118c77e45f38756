import { EnvReader } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe(loadConfig.name, () => {
  it('has the documented defaults', () => {
    const c = loadConfig(new EnvReader({ FLOE_STATE_DIR: '/tmp/s' }));
    expect(c).toMatchObject({
      https: { host: '0.0.0.0', port: 8443 },
      scheduler: { host: '127.0.0.1', port: 7001 },
      stateDir: '/tmp/s',
      admin: { user: 'admin' },
      defaultNamespace: 'openfaas-fn',
      maxBodyBytes: 10 * 1024 ** 2,
    });
    expect(c.http).toBeUndefined();
  });

  it('binds the plain HTTP listener to loopback only', () => {
    expect(
      loadConfig(new EnvReader({ FLOE_GATEWAY_HTTP_PORT: '8080', FLOE_GATEWAY_HOST: '0.0.0.0' })).http,
    ).toEqual({
      host: '127.0.0.1',
      port: 8080,
    });
  });

  it.each([
    [{ FLOE_GATEWAY_PORT: 'x' }, /FLOE_GATEWAY_PORT/],
    [{ FLOE_MAX_BODY_BYTES: 'huge' }, /FLOE_MAX_BODY_BYTES/],
    [{ FLOE_SCHEDULER_RPC: 'nowhere' }, /FLOE_SCHEDULER_RPC/],
    [{ FLOE_TLS_CERT: '/c.pem' }, /FLOE_TLS_KEY: required/],
    [{ FLOE_TLS_KEY: '/k.pem' }, /FLOE_TLS_CERT: required/],
  ])('names the variable on a bad value: %j', (env, re) =>
    expect(() => loadConfig(new EnvReader(env))).toThrow(re),
  );
});
