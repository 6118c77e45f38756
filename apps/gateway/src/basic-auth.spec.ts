import crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { CredentialCheck, parseBasicAuth } from './basic-auth.js';

const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;

describe(parseBasicAuth.name, () => {
  it('decodes user and password, keeping colons in the password', () => {
    expect(parseBasicAuth(basic('admin:a:b'))).toEqual({ user: 'admin', password: 'a:b' });
    expect(parseBasicAuth(`bAsIc ${Buffer.from('u:p').toString('base64')}`)).toEqual({
      user: 'u',
      password: 'p',
    });
  });

  it.each([undefined, '', 'Bearer x', basic('nocolon')])('rejects %s', (h) =>
    expect(parseBasicAuth(h)).toBeUndefined(),
  );
});

describe(CredentialCheck.name, () => {
  const check = new CredentialCheck({ user: 'admin', password: 'secret' });

  it('accepts only the exact pair', () => {
    expect(check.matches({ user: 'admin', password: 'secret' })).toBe(true);
    expect(check.matches({ user: 'admin', password: 'secreT' })).toBe(false);
    expect(check.matches({ user: 'root', password: 'secret' })).toBe(false);
    expect(check.matches({ user: 'admin', password: 'a much longer password than the real one' })).toBe(
      false,
    );
    expect(check.matches(undefined)).toBe(false);
  });

  it('compares user and password with timingSafeEqual on equal-length digests, always both', () => {
    const spy = vi.spyOn(crypto, 'timingSafeEqual');
    try {
      check.matches({ user: 'wrong', password: 'x' });
      expect(spy).toHaveBeenCalledTimes(2);
      for (const [a, b] of spy.mock.calls) expect((a as Buffer).length).toBe((b as Buffer).length);
    } finally {
      spy.mockRestore();
    }
  });
});
