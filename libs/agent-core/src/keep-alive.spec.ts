import { describe, expect, it } from 'vitest';
import { KeepAlivePolicy } from './keep-alive.js';

const MIN = 60_000;
const settings = { fixedMs: 10 * MIN, minMs: MIN, maxMs: 4 * 60 * MIN, minSamples: 4 };

/** `n` calls of `key`, each lasting 10 ms, one every `everyMs`, from `t0`; returns the last end. */
function calls(p: KeepAlivePolicy, key: string, n: number, everyMs: number, t0 = 0): number {
  let t = t0;
  for (let i = 0; i < n; i++) {
    p.callStarted(key, t);
    p.callEnded(key, t + 10);
    t += everyMs;
  }
  return t - everyMs + 10;
}

describe(KeepAlivePolicy.name, () => {
  it('uses the fixed keep-alive until a function has enough idle times', () => {
    const p = new KeepAlivePolicy(settings);
    expect(p.keepAlive('ns/new')).toEqual({ ms: 10 * MIN, policy: 'fixed' });
    calls(p, 'ns/few', 3, 5000);
    expect(p.keepAlive('ns/few').policy).toBe('fixed');
  });

  it('keeps a function called every 20 minutes longer than the fixed keep-alive', () => {
    const p = new KeepAlivePolicy(settings);
    calls(p, 'ns/slow', 10, 20 * MIN);
    const ka = p.keepAlive('ns/slow');
    expect(ka.policy).toBe('histogram');
    expect(ka.ms).toBeGreaterThan(20 * MIN);
    expect(ka.ms).toBeLessThanOrEqual(settings.maxMs);
  });

  it('shortens the keep-alive of a function called every few seconds, down to the minimum', () => {
    const p = new KeepAlivePolicy(settings);
    calls(p, 'ns/hot', 50, 2000);
    expect(p.keepAlive('ns/hot')).toEqual({ ms: MIN, policy: 'histogram' });
  });

  it('falls back to the fixed keep-alive when most idle times are past the histogram (a daily job)', () => {
    const p = new KeepAlivePolicy(settings);
    calls(p, 'ns/daily', 6, 24 * 60 * MIN);
    expect(p.keepAlive('ns/daily')).toEqual({ ms: 10 * MIN, policy: 'fixed' });
  });

  it('does not count the time between concurrent calls as idle', () => {
    const p = new KeepAlivePolicy(settings);
    for (let i = 0; i < 10; i++) {
      p.callStarted('ns/c', i * 1000);
      p.callStarted('ns/c', i * 1000 + 1);
      p.callEnded('ns/c', i * 1000 + 500);
    }
    // 9 idle gaps of ~500 ms (the starts with a call in flight add none).
    expect(p.keepAlive('ns/c').policy).toBe('histogram');
  });

  it('expects the next call of a frequently called function sooner than one of a rare one', () => {
    const p = new KeepAlivePolicy(settings);
    const endMinute = calls(p, 'ns/minute', 20, MIN);
    const endHour = calls(p, 'ns/hourly', 20, 60 * MIN, endMinute - 19 * 60 * MIN);
    const now = Math.max(endMinute, endHour) + 1000;
    const minute = p.nextCallAt('ns/minute', endMinute, now);
    const hourly = p.nextCallAt('ns/hourly', endHour, now);
    expect(minute).toBeLessThan(hourly);
    // No pattern: nothing predicts a call, so it is evicted before either.
    expect(p.nextCallAt('ns/once', now - 1000, now)).toBe(Number.POSITIVE_INFINITY);
    expect(p.nextCallAt(undefined, now, now)).toBe(Number.POSITIVE_INFINITY);
  });

  it('stops expecting a call once a function is idle past its keep-alive', () => {
    const p = new KeepAlivePolicy(settings);
    const end = calls(p, 'ns/minute', 20, MIN);
    const ka = p.keepAlive('ns/minute').ms;
    expect(p.nextCallAt('ns/minute', end, end + 1000)).toBeLessThan(Number.POSITIVE_INFINITY);
    expect(p.nextCallAt('ns/minute', end, end + ka + 1)).toBe(Number.POSITIVE_INFINITY);
  });
});
