import { describe, expect, it } from 'vitest';
import { ConfigError, EnvReader, parseBytes } from './config.js';

describe(EnvReader.name, () => {
  it('returns defaults for unset variables', () => {
    const env = new EnvReader({});
    expect(env.port('P', 8443)).toBe(8443);
    expect(env.bool('B', true)).toBe(true);
  });

  it('names the variable on a bad value', () => {
    const env = new EnvReader({ FLOE_PORT: 'abc', FLOE_ON: 'maybe' });
    expect(() => env.port('FLOE_PORT', 1)).toThrow(ConfigError);
    expect(() => env.port('FLOE_PORT', 1)).toThrow(/FLOE_PORT/);
    expect(() => env.bool('FLOE_ON', false)).toThrow(/FLOE_ON/);
  });

  it('rejects an out-of-range port', () => {
    expect(() => new EnvReader({ P: '70000' }).port('P', 1)).toThrow(/<= 65535/);
  });

  it('parses host:port addresses', () => {
    expect(new EnvReader({ A: '127.0.0.1:7001' }).address('A', 'x:1')).toEqual({
      host: '127.0.0.1',
      port: 7001,
    });
    expect(() => new EnvReader({ A: 'nope' }).address('A', 'x:1')).toThrow(/A: expected host:port/);
  });
});

describe('parseBytes', () => {
  it.each([
    ['128Mi', 128 * 1024 ** 2],
    ['128m', 128 * 1024 ** 2],
    ['1G', 1024 ** 3],
    ['512', 512],
    ['64k', 65536],
  ])('%s', (raw, n) => expect(parseBytes(raw)).toBe(n));

  it('rejects garbage', () => expect(parseBytes('lots')).toBeUndefined());
});
