import { describe, expect, it } from 'vitest';
import { AuthLimiter } from './auth-limiter.js';

describe(AuthLimiter.name, () => {
  it('lets three failures through, then doubles from 100 ms up to 5 s', () => {
    const l = new AuthLimiter();
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      delays.push(l.delayFor('1.2.3.4'));
      l.failure('1.2.3.4');
    }
    expect(delays).toEqual([0, 0, 0, 100, 200, 400, 800, 1600, 3200, 5000]);
  });

  it('keeps clients apart and resets on success', () => {
    const l = new AuthLimiter();
    for (let i = 0; i < 5; i++) l.failure('a');
    expect(l.delayFor('b')).toBe(0);
    expect(l.delayFor('a')).toBe(400);
    l.success('a');
    expect(l.delayFor('a')).toBe(0);
  });

  it('forgets a client after a quiet period', () => {
    let t = 0;
    const l = new AuthLimiter({ forgetAfterMs: 1000 }, () => t);
    for (let i = 0; i < 4; i++) l.failure('a');
    expect(l.delayFor('a')).toBe(200);
    t = 1001;
    expect(l.delayFor('a')).toBe(0);
  });

  it('bounds the number of tracked clients, dropping the least recent', () => {
    const l = new AuthLimiter({ maxClients: 2, freeFailures: 0 });
    l.failure('a');
    l.failure('b');
    l.failure('c');
    expect(l.delayFor('a')).toBe(0);
    expect(l.delayFor('c')).toBe(200);
  });
});
