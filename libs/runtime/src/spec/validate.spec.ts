import { InvalidArgumentError } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { defaultSpec } from './defaults.js';
import type { OciConfig } from './types.js';
import { validateConfig } from './validate.js';

const base = () => defaultSpec({ rootfs: '/r', args: ['/bin/true'] });

function fieldOf(mut: (c: any) => void): string | undefined {
  const c = base() as any;
  mut(c);
  try {
    validateConfig(c);
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).field;
  }
}

describe(validateConfig.name, () => {
  it('accepts the default spec, returning it unchanged', () => {
    const spec = base();
    const before = structuredClone(spec);
    expect(() => validateConfig(spec)).not.toThrow();
    expect(validateConfig(spec)).toBe(spec);
    expect(spec).toEqual(before);
  });

  it.each<[string, (c: any) => void, string]>([
    ['unknown top-level field', (c) => (c.bogus = 1), 'bogus'],
    [
      'unknown nested field',
      (c) => (c.linux.resources = { memory: { limitt: 1 } }),
      'linux.resources.memory.limitt',
    ],
    [
      'negative memory limit',
      (c) => (c.linux.resources = { memory: { limit: -5 } }),
      'linux.resources.memory.limit',
    ],
    [
      'non-integer limit',
      (c) => (c.linux.resources = { pids: { limit: 1.5 } }),
      'linux.resources.pids.limit',
    ],
    ['unknown namespace', (c) => c.linux.namespaces.push({ type: 'time' }), 'linux.namespaces[6].type'],
    ['duplicate namespace', (c) => c.linux.namespaces.push({ type: 'pid' }), 'linux.namespaces[6].type'],
    ['missing args', (c) => delete c.process.args, 'process.args'],
    ['empty args', (c) => (c.process.args = []), 'process.args'],
    ['relative cwd', (c) => (c.process.cwd = 'tmp'), 'process.cwd'],
    ['cgroupsPath escape', (c) => (c.linux.cgroupsPath = 'a/../../etc'), 'linux.cgroupsPath'],
    [
      'unknown capability',
      (c) => c.process.capabilities.bounding.push('CAP_FLY'),
      'process.capabilities.bounding[14]',
    ],
    ['unknown propagation', (c) => (c.linux.rootfsPropagation = 'weird'), 'linux.rootfsPropagation'],
    [
      'bad rlimit',
      (c) => (c.process.rlimits = [{ type: 'RLIMIT_X', soft: 1, hard: 1 }]),
      'process.rlimits[0].type',
    ],
    ['oomScoreAdj range', (c) => (c.process.oomScoreAdj = 2000), 'process.oomScoreAdj'],
    [
      'mount relative destination',
      (c) => c.mounts.push({ destination: 'x', type: 'tmpfs' }),
      'mounts[6].destination',
    ],
    ['user ns without mappings', (c) => c.linux.namespaces.push({ type: 'user' }), 'linux.uidMappings'],
    ['env without =', (c) => (c.process.env = ['FOO']), 'process.env[0]'],
  ])('rejects %s naming the field', (_name, mut, field) => {
    expect(fieldOf(mut)).toBe(field);
  });

  it('rejects overlapping id mappings', () => {
    const field = fieldOf((c: OciConfig) => {
      c.linux!.namespaces!.push({ type: 'user' });
      c.linux!.uidMappings = [
        { containerID: 0, hostID: 100000, size: 1000 },
        { containerID: 500, hostID: 300000, size: 10 },
      ];
      c.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 1000 }];
    });
    expect(field).toBe('linux.uidMappings[1].containerID');
    const hostOverlap = fieldOf((c: OciConfig) => {
      c.linux!.namespaces!.push({ type: 'user' });
      c.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.linux!.gidMappings = [
        { containerID: 0, hostID: 100000, size: 10 },
        { containerID: 10, hostID: 100005, size: 10 },
      ];
    });
    expect(hostOverlap).toBe('linux.gidMappings[1].hostID');
  });
});
