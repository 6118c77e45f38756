import { describe, expect, it } from 'vitest';
import { parseFunctionPath } from './function-path.js';

describe(parseFunctionPath.name, () => {
  it.each([
    ['/function/hello', { name: 'hello', namespace: 'openfaas-fn', path: '/', query: '' }],
    ['/function/hello/', { name: 'hello', namespace: 'openfaas-fn', path: '/', query: '' }],
    ['/function/hello.dev', { name: 'hello', namespace: 'dev', path: '/', query: '' }],
    ['/function/hello.dev/a/b?x=1&y=2', { name: 'hello', namespace: 'dev', path: '/a/b', query: 'x=1&y=2' }],
    ['/function/hello?x=/y', { name: 'hello', namespace: 'openfaas-fn', path: '/', query: 'x=/y' }],
    ['/function/hello/a.b/c', { name: 'hello', namespace: 'openfaas-fn', path: '/a.b/c', query: '' }],
  ])('%s', (url, want) => expect(parseFunctionPath(url, '/function/', 'openfaas-fn')).toEqual(want));

  it('works for the async prefix', () => {
    expect(parseFunctionPath('/async-function/f.ns/x', '/async-function/', 'd')).toEqual({
      name: 'f',
      namespace: 'ns',
      path: '/x',
      query: '',
    });
  });

  it.each(['/function/', '/function//x', '/function/.ns', '/function/a.', '/other/a', '/function/%zz'])(
    'rejects %s',
    (url) => expect(parseFunctionPath(url, '/function/', 'd')).toBeUndefined(),
  );
});
