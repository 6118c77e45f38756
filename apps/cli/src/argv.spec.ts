import { describe, expect, it } from 'vitest';
import { headerPairs, pairs, parse } from './argv.js';

describe('parse', () => {
  const spec = {
    env: { type: 'string', short: 'e', multiple: true },
    wait: { type: 'boolean' },
    name: { type: 'string' },
  } as const;

  it('reads long, short, inline, repeated and negated flags, keeping positionals in order', () => {
    const r = parse(
      ['dir', '--name=x', '-e', 'A=1', '-eB=2', '--no-wait', '--', '--literal'],
      spec,
      'deploy',
    );
    expect(r.positionals).toEqual(['dir', '--literal']);
    expect(r.flags).toEqual({ name: 'x', env: ['A=1', 'B=2'], wait: false });
  });

  it('names an unknown flag and the command', () => {
    expect(() => parse(['--nope'], spec, 'deploy')).toThrow(/deploy: unknown flag --nope/);
    expect(() => parse(['-z'], spec, 'deploy')).toThrow(/unknown flag -z/);
    expect(() => parse(['--name'], spec, 'deploy')).toThrow(/--name needs a value/);
  });
});

describe('pairs and headerPairs', () => {
  it('turns k=v and header forms into objects, naming the flag of a bad one', () => {
    expect(pairs(['a=1', 'b=x=y'], 'env')).toEqual({ a: '1', b: 'x=y' });
    expect(pairs(undefined, 'env')).toBeUndefined();
    expect(() => pairs(['novalue'], 'label')).toThrow(/--label novalue: expected key=value/);
    expect(headerPairs(['X-A: 1', 'x-b=2'])).toEqual({ 'x-a': '1', 'x-b': '2' });
    expect(() => headerPairs([': bad'])).toThrow(/expected 'Name: value'/);
  });
});
