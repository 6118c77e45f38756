import type { FunctionVersion } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import type { FunctionEntry, FunctionRecord } from './function-registry.js';
import { replicaFloor, zeroAfterMs } from './replica-policy.js';

function entry(
  labels: Record<string, string>,
  record: Partial<FunctionRecord> = {},
  minScale = 1,
): FunctionEntry {
  return {
    record: { name: 'f', namespace: 'ns', active: 1, latest: 1, createdAt: '', ...record },
    version: { minScale, maxScale: 5, deployment: { service: 'f', labels } } as unknown as FunctionVersion,
  };
}
const off = { scaleToZeroMs: 60_000 };

describe(replicaFloor.name, () => {
  it('is min scale, or the replicas asked for when higher', () => {
    expect(replicaFloor(entry({}), 0, 0, 1e9, off)).toEqual({ floor: 1, why: 'min' });
    expect(replicaFloor(entry({}, { replicas: 3, scaledAt: 1 }), 0, 0, 1e9, off)).toEqual({
      floor: 3,
      why: 'scaled',
    });
  });

  it('holds a scale to 0 until a call after it', () => {
    const e = entry({}, { replicas: 0, scaledAt: 1000 });
    expect(replicaFloor(e, 900, 0, 2000, off)).toEqual({ floor: 0, why: 'held' });
    expect(replicaFloor(e, 1500, 0, 2000, off)).toEqual({ floor: 1, why: 'min' });
  });

  it('reaches zero after idling only when the function or the platform opted in, and not under demand', () => {
    const optIn = entry({ 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '30s' });
    expect(replicaFloor(optIn, 0, 0, 30_000, off)).toEqual({ floor: 0, why: 'idle' });
    expect(replicaFloor(optIn, 0, 1, 30_000, off).why).toBe('min');
    expect(replicaFloor(optIn, 0, 0, 29_999, off).why).toBe('min');
    expect(replicaFloor(entry({}), 0, 0, 1e9, off).why).toBe('min');
    expect(replicaFloor(entry({}), 0, 0, 60_000, { ...off, scaleToZero: true }).why).toBe('idle');
  });
});

describe(zeroAfterMs.name, () => {
  it('reads the labels, falls back to the platform setting, and lets a function opt out', () => {
    expect(zeroAfterMs(entry({ 'com.openfaas.scale.zero': 'true' }), off)).toBe(60_000);
    expect(zeroAfterMs(entry({ 'com.openfaas.scale.zero': 'false' }), { ...off, scaleToZero: true })).toBe(
      undefined,
    );
    expect(zeroAfterMs(entry({}), off)).toBe(undefined);
  });
});
