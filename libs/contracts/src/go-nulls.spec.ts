import { describe, expect, it } from 'vitest';
import { withoutNulls } from './go-nulls.js';

describe(withoutNulls.name, () => {
  it('drops null members, and one level down only where asked', () => {
    expect(withoutNulls({ a: null, b: 1, l: { m: null, c: 'x' }, o: { p: null } }, ['l'])).toEqual({
      b: 1,
      l: { c: 'x' },
      o: { p: null },
    });
  });

  it('returns what is not a plain object unchanged', () => {
    expect(withoutNulls(null)).toBeNull();
    expect(withoutNulls([null])).toEqual([null]);
    expect(withoutNulls('x')).toBe('x');
  });
});
