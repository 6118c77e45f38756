import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EnvReader } from './config.js';
import { redisTarget, redisTlsOptions } from './redis-url.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-redis-url-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const target = (env: Record<string, string>) => redisTarget(new EnvReader(env));

describe(redisTarget.name, () => {
  it('takes redis:// and rediss:// URLs with a user and password, as given', () => {
    expect(target({ REDIS_URL: 'redis://floe:p%40ss@10.0.0.5:6379/2' })).toEqual({
      url: 'redis://floe:p%40ss@10.0.0.5:6379/2',
    });
    expect(target({ REDIS_URL: 'rediss://:secret@redis.example:6380' }).url).toBe(
      'rediss://:secret@redis.example:6380',
    );
    expect(target({}).url).toBe('redis://127.0.0.1:6379');
  });

  it('names REDIS_URL on a URL that is not Redis', () => {
    expect(() => target({ REDIS_URL: 'http://redis:6379' })).toThrow(
      /REDIS_URL: expected redis:\/\/ or rediss:\/\//,
    );
    expect(() => target({ REDIS_URL: 'not a url' })).toThrow(/REDIS_URL/);
  });

  it('reads FLOE_REDIS_CA for rediss:// only, naming it when it is missing or misplaced', () => {
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, 'PEM');
    const t = target({ REDIS_URL: 'rediss://:x@h:6380', FLOE_REDIS_CA: ca });
    expect(redisTlsOptions(t)).toEqual({ tls: { ca: Buffer.from('PEM') } });
    expect(redisTlsOptions(target({ REDIS_URL: 'rediss://:x@h:6380' }))).toEqual({});
    expect(() => target({ REDIS_URL: 'redis://h:6379', FLOE_REDIS_CA: ca })).toThrow(/FLOE_REDIS_CA/);
    expect(() => target({ REDIS_URL: 'rediss://h:6380', FLOE_REDIS_CA: path.join(dir, 'nope') })).toThrow(
      /FLOE_REDIS_CA: .*nope/,
    );
  });
});
