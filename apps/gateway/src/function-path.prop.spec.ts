import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseFunctionPath } from './function-path.js';

const PREFIXES = ['/function/', '/async-function/'];

describe('parseFunctionPath (property-based)', () => {
  it('never throws, and what it returns is consistent with the URL', () => {
    const urlish = fc.oneof(
      fc.string(),
      fc
        .tuple(
          fc.constantFrom(...PREFIXES, '/', '/functions/'),
          fc.string(),
          fc.constantFrom('', '/', '/a/b', '?', '?q=1', '%', '%zz', '%E0%A4%A', '.', '..'),
        )
        .map(([p, s, t]) => p + s + t),
    );
    fc.assert(
      fc.property(urlish, fc.constantFrom(...PREFIXES), (url, prefix) => {
        const t = parseFunctionPath(url, prefix, 'openfaas-fn');
        if (t === undefined) return;
        expect(url.startsWith(prefix)).toBe(true);
        expect(t.name).not.toBe('');
        expect(t.namespace).not.toBe('');
        expect(t.path.startsWith('/')).toBe(true);
        expect(t.query.includes('?') && !url.slice(url.indexOf('?') + 1).includes('?')).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips any name, namespace, path and query it was built from', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
    const seg = fc.stringMatching(/^[A-Za-z0-9._~-]{0,8}$/);
    fc.assert(
      fc.property(
        label,
        fc.option(label, { nil: undefined }),
        fc.array(seg, { maxLength: 4 }),
        fc.stringMatching(/^[A-Za-z0-9=&]{0,20}$/),
        (name, ns, segs, query) => {
          const sub = segs.length ? `/${segs.join('/')}` : '';
          const url = `/function/${name}${ns ? `.${ns}` : ''}${sub}${query ? `?${query}` : ''}`;
          expect(parseFunctionPath(url, '/function/', 'openfaas-fn')).toEqual({
            name,
            namespace: ns ?? 'openfaas-fn',
            path: sub || '/',
            query,
          });
        },
      ),
    );
  });
});
