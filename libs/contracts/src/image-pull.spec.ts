import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import { parseImagePullBody } from './image-pull.js';

const fieldOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).details.field;
  }
  throw new Error('expected a throw');
};

describe('parseImagePullBody', () => {
  it('takes the image, and the namespace from the body, else the query, else the default', () => {
    expect(parseImagePullBody({ image: 'r:5000/a:1', namespace: 'team' }, 'q', 'openfaas-fn')).toEqual({
      image: 'r:5000/a:1',
      namespace: 'team',
    });
    expect(parseImagePullBody({ image: 'a' }, 'q', 'openfaas-fn').namespace).toBe('q');
    expect(parseImagePullBody({ image: 'a' }, undefined, 'openfaas-fn').namespace).toBe('openfaas-fn');
    expect(parseImagePullBody({ image: 'a', agents: ['agent-1'] }, undefined, 'd').agents).toEqual([
      'agent-1',
    ]);
  });

  it('names the field that is wrong', () => {
    expect(fieldOf(() => parseImagePullBody(undefined, undefined, 'd'))).toBe('image');
    expect(fieldOf(() => parseImagePullBody({ ref: 'a' }, undefined, 'd'))).toBe('image');
    expect(fieldOf(() => parseImagePullBody({ image: ' ' }, undefined, 'd'))).toBe('image');
    expect(fieldOf(() => parseImagePullBody({ image: 'a', namespace: 'Bad_NS' }, undefined, 'd'))).toBe(
      'namespace',
    );
    expect(fieldOf(() => parseImagePullBody({ image: 'a', agents: 'agent-1' }, undefined, 'd'))).toBe(
      'agents',
    );
  });
});
