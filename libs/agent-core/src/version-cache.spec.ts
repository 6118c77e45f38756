import { type FunctionVersion, versionRef } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { VersionCache } from './version-cache.js';

const v = (n: number) => ({ namespace: 'ns', name: 'f', version: n, createdAt: 't' }) as FunctionVersion;
const request = {
  callId: 'c',
  function: 'f',
  namespace: 'ns',
  method: 'GET',
  path: '/',
  query: '',
  headers: {},
  body: Buffer.alloc(0),
};

describe(VersionCache.name, () => {
  it('keeps a version sent whole and finds it by ref', () => {
    const c = new VersionCache();
    expect(c.resolve({ request, version: v(1), ref: versionRef(v(1)) })).toEqual(v(1));
    expect(c.resolve({ request, ref: versionRef(v(1)) })).toEqual(v(1));
  });

  it('refuses an unknown ref with FAILED_PRECONDITION and details.versionUnknown', () => {
    expect(() => new VersionCache().resolve({ request, ref: 'ns/f@9@t' })).toThrow(
      expect.objectContaining({ code: 'FAILED_PRECONDITION', details: { versionUnknown: 'ns/f@9@t' } }),
    );
    expect(() => new VersionCache().resolve({ request })).toThrow(/neither version nor ref/);
  });

  it('drops the oldest past its bound', () => {
    const c = new VersionCache(2);
    for (const n of [1, 2, 3]) c.resolve({ request, version: v(n), ref: versionRef(v(n)) });
    expect(c.size).toBe(2);
    expect(() => c.resolve({ request, ref: versionRef(v(1)) })).toThrow(/not cached/);
    expect(c.resolve({ request, ref: versionRef(v(3)) })).toEqual(v(3));
  });
});
