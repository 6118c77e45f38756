import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import { parseDurationMs, validateDeployment } from './validate-deployment.js';

const ok = { service: 'echo', image: 'alpine:3' };

describe(validateDeployment.name, () => {
  it('accepts an image deployment and a code deployment', () => {
    expect(validateDeployment(ok)).toEqual(ok);
    expect(
      validateDeployment({ service: 'f', runtime: 'node', handler: 'index.js', code: 'UEsFBg==' }).service,
    ).toBe('f');
    expect(validateDeployment({ service: 'f', runtime: 'exec', envProcess: 'tr a-z A-Z' }).runtime).toBe(
      'exec',
    );
  });

  it.each([
    [{ service: 'Bad_Name', image: 'x' }, 'service'],
    [{ service: 'f' }, 'image'],
    [{ service: 'f', runtime: 'node', code: 'eA==' }, 'handler'],
    [{ service: 'f', runtime: 'node', handler: 'x' }, 'code'],
    [{ service: 'f', runtime: 'exec' }, 'handler'],
    [{ service: 'f', runtime: 'ruby', handler: 'x', code: 'eA==' }, 'runtime'],
    [{ ...ok, limits: { memory: 'lots' } }, 'limits.memory'],
    [{ ...ok, labels: { 'com.openfaas.scale.zero': 'yes' } }, 'labels.com.openfaas.scale.zero'],
    [
      { ...ok, labels: { 'com.openfaas.scale.zero-duration': 'soon' } },
      'labels.com.openfaas.scale.zero-duration',
    ],
    [{ ...ok, labels: { 'com.openfaas.scale.min': 'two' } }, 'labels.com.openfaas.scale.min'],
    [
      { ...ok, labels: { 'com.openfaas.scale.min': '5', 'com.openfaas.scale.max': '2' } },
      'labels.com.openfaas.scale.min',
    ],
    [{ ...ok, envVars: { A: 1 } }, 'envVars.A'],
    [{ ...ok, annotations: { 'com.floe.timeout': 'soon' } }, 'annotations.com.floe.timeout'],
    [{ ...ok, secrets: ['missing'] }, 'secrets'],
  ])('rejects %j naming %s', (dep, field) => {
    try {
      validateDeployment(dep, { existingSecrets: ['present'] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).field).toBe(field);
    }
  });

  it('parses timeouts as seconds or durations', () => {
    expect(parseDurationMs('30')).toBe(30_000);
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('2m')).toBe(120_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('x')).toBeUndefined();
  });
});

describe('validateDeployment with Go clients', () => {
  // faas-provider's FunctionDeployment as encoding/json writes it with unset maps, slices and pointers.
  const goBody = {
    service: 'env',
    image: 'functions/alpine:latest',
    namespace: '',
    envProcess: 'env',
    envVars: null,
    constraints: null,
    secrets: null,
    labels: null,
    annotations: null,
    limits: null,
    requests: { memory: null, cpu: '100m' },
    readOnlyRootFilesystem: false,
  };

  it('reads null and an empty namespace as absent, and leaves them out of what is stored', () => {
    expect(validateDeployment(goBody)).toEqual({
      service: 'env',
      image: 'functions/alpine:latest',
      envProcess: 'env',
      requests: { cpu: '100m' },
      readOnlyRootFilesystem: false,
    });
  });

  it('does not change the caller object', () => {
    const body = { ...goBody };
    validateDeployment(body);
    expect(body.labels).toBeNull();
    expect(body.namespace).toBe('');
  });

  it('still names a field whose value is of the wrong type', () => {
    expect(() => validateDeployment({ ...goBody, labels: 'x' })).toThrow(
      expect.objectContaining({ field: 'labels' }),
    );
  });
});
