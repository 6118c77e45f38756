import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBytes } from './config.js';
import { InvalidArgumentError } from './errors.js';
import { MAX_DURATION_MS, parseDurationMs, validateDeployment } from './validate-deployment.js';

/** A field that is usually well-formed and sometimes anything at all. */
const maybe = <T>(good: fc.Arbitrary<T>) =>
  fc.option(fc.oneof({ weight: 3, arbitrary: good }, fc.anything()));
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const size = fc.oneof(fc.stringMatching(/^\d{1,25}(\.\d{1,3})?(Ki|Mi|Gi|Ti|k|M|G|)$/), fc.string());
const duration = fc.oneof(fc.stringMatching(/^\d{1,20}(\.\d{1,3})?(ms|s|m|h|)$/), fc.string());

const deployment = fc.record(
  {
    service: maybe(label),
    namespace: maybe(label),
    runtime: maybe(fc.constantFrom('node', 'python', 'exec', 'image', 'go')),
    image: maybe(fc.string()),
    handler: maybe(fc.string()),
    code: maybe(fc.base64String()),
    envProcess: maybe(fc.string()),
    envVars: maybe(fc.dictionary(fc.string(), fc.string())),
    labels: maybe(
      fc.dictionary(
        fc.constantFrom('com.openfaas.scale.min', 'com.openfaas.scale.max', 'x'),
        fc.oneof(fc.stringMatching(/^\d{1,7}$/), fc.string()),
      ),
    ),
    annotations: maybe(
      fc.dictionary(fc.constantFrom('com.floe.timeout', 'com.floe.max-concurrency', 'y'), duration),
    ),
    limits: maybe(
      fc.record(
        { memory: size, cpu: fc.oneof(fc.stringMatching(/^\d{1,4}(\.\d{1,2})?m?$/), fc.string()) },
        { requiredKeys: [] },
      ),
    ),
    requests: maybe(fc.record({ memory: size }, { requiredKeys: [] })),
    secrets: maybe(fc.array(label, { maxLength: 3 })),
    constraints: maybe(fc.array(fc.string(), { maxLength: 3 })),
    readOnlyRootFilesystem: maybe(fc.boolean()),
  },
  { requiredKeys: [] },
);

describe('validateDeployment (property-based)', () => {
  it('accepts or throws InvalidArgumentError naming a field, for any input', () => {
    fc.assert(
      fc.property(fc.oneof(deployment, fc.anything()), (input) => {
        let out: ReturnType<typeof validateDeployment> | undefined;
        try {
          out = validateDeployment(input, { existingSecrets: ['a'] });
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidArgumentError);
          const field = (e as InvalidArgumentError).details.field;
          expect(typeof field).toBe('string');
          expect((e as Error).message.startsWith(`${field}: `)).toBe(true);
          return;
        }
        // What passes is usable as it is: sizes and timeouts are finite and in range.
        for (const r of [out.limits, out.requests]) {
          if (r?.memory === undefined) continue;
          const bytes = parseBytes(r.memory);
          expect(Number.isSafeInteger(bytes)).toBe(true);
          expect(bytes).toBeGreaterThan(0);
        }
        const t = out.annotations?.['com.floe.timeout'];
        if (t !== undefined) {
          const ms = parseDurationMs(t);
          expect(ms).toBeGreaterThan(0);
          expect(ms).toBeLessThanOrEqual(MAX_DURATION_MS);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a timeout a timer cannot hold is refused, not turned into an instant timeout', () => {
    const dep = { service: 'f', image: 'x', annotations: { 'com.floe.timeout': '99999999999999999999' } };
    expect(() => validateDeployment(dep)).toThrow(/annotations\.com\.floe\.timeout/);
  });

  it('limits given as an array are refused', () => {
    expect(() => validateDeployment({ service: 'f', image: 'x', limits: [] })).toThrow(/^limits: /);
  });
});
