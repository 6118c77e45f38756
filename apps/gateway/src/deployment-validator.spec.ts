import { InvalidArgumentError } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { validateDeployment } from './deployment-validator.js';

const fieldOf = (body: unknown) => {
  try {
    validateDeployment(body);
  } catch (e) {
    if (e instanceof InvalidArgumentError) return e.field;
    throw e;
  }
  return undefined;
};

describe(validateDeployment.name, () => {
  it('returns the same object, unknown fields included', () => {
    const d = { service: 'hello', image: 'ghcr.io/x/y:1', network: 'func_functions' };
    expect(validateDeployment(d)).toBe(d);
  });

  it('accepts code with a runtime', () => {
    expect(fieldOf({ service: 'a', runtime: 'node', handler: 'index.js', code: 'aGVsbG8=' })).toBeUndefined();
  });

  it.each([
    [null, 'body'],
    [[], 'body'],
    [{}, 'service'],
    [{ service: 'Bad_Name', image: 'x' }, 'service'],
    [{ service: 'a' }, 'image'],
    [{ service: 'a', image: 3 }, 'image'],
    [{ service: 'a', image: 'x', namespace: 'A B' }, 'namespace'],
    [{ service: 'a', image: 'x', envVars: { A: 1 } }, 'envVars.A'],
    [{ service: 'a', image: 'x', secrets: ['s', 2] }, 'secrets[1]'],
    [{ service: 'a', image: 'x', limits: { memory: 'lots' } }, 'limits.memory'],
    [{ service: 'a', image: 'x', requests: { cpu: 'fast' } }, 'requests.cpu'],
    [{ service: 'a', image: 'x', readOnlyRootFilesystem: 'yes' }, 'readOnlyRootFilesystem'],
    [{ service: 'a', runtime: 'cobol', code: 'AA==' }, 'runtime'],
    [{ service: 'a', code: 'AA==' }, 'runtime'],
    [{ service: 'a', runtime: 'node', code: 'not base64!' }, 'code'],
    [
      { service: 'a', image: 'x', labels: { 'com.openfaas.scale.max': 'many' } },
      'labels.com.openfaas.scale.max',
    ],
  ])('%j → 400 naming %s', (body, field) => expect(fieldOf(body)).toBe(field));
});
