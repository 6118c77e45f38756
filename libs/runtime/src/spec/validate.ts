import { InvalidArgumentError } from '@floe/contracts';
import { CAPABILITIES } from '../caps.js';
import type { IdMapping, OciConfig } from './types.js';

type Shape =
  | 'string'
  | 'bool'
  | 'int'
  | 'uint'
  | 'any'
  | { array: Shape }
  | { object: Record<string, Shape>; required?: string[] };

const idMapping: Shape = {
  object: { containerID: 'uint', hostID: 'uint', size: 'uint' },
  required: ['containerID', 'hostID', 'size'],
};
const strings: Shape = { array: 'string' };

const CONFIG: Shape = {
  object: {
    ociVersion: 'string',
    root: { object: { path: 'string', readonly: 'bool' }, required: ['path'] },
    mounts: {
      array: {
        object: { destination: 'string', type: 'string', source: 'string', options: strings },
        required: ['destination'],
      },
    },
    hostname: 'string',
    annotations: 'any',
    process: {
      object: {
        args: strings,
        env: strings,
        cwd: 'string',
        terminal: 'bool',
        user: {
          object: { uid: 'uint', gid: 'uint', additionalGids: { array: 'uint' }, umask: 'uint' },
          required: ['uid', 'gid'],
        },
        capabilities: {
          object: {
            bounding: strings,
            effective: strings,
            permitted: strings,
            inheritable: strings,
            ambient: strings,
          },
        },
        noNewPrivileges: 'bool',
        rlimits: {
          array: {
            object: { type: 'string', soft: 'uint', hard: 'uint' },
            required: ['type', 'soft', 'hard'],
          },
        },
        oomScoreAdj: 'int',
      },
      required: ['args'],
    },
    linux: {
      object: {
        namespaces: { array: { object: { type: 'string', path: 'string' }, required: ['type'] } },
        uidMappings: { array: idMapping },
        gidMappings: { array: idMapping },
        resources: {
          object: {
            memory: { object: { limit: 'int', reservation: 'int' } },
            cpu: { object: { quota: 'int', period: 'uint', shares: 'uint' } },
            pids: { object: { limit: 'int' } },
          },
        },
        seccomp: {
          object: {
            defaultAction: 'string',
            architectures: strings,
            syscalls: {
              array: {
                object: { names: strings, action: 'string', errnoRet: 'uint' },
                required: ['names', 'action'],
              },
            },
          },
          required: ['defaultAction'],
        },
        maskedPaths: strings,
        readonlyPaths: strings,
        cgroupsPath: 'string',
        rootfsPropagation: 'string',
      },
    },
  },
  required: ['root', 'process'],
};

function checkShape(v: unknown, shape: Shape, field: string): void {
  if (shape === 'any') return;
  if (shape === 'string') {
    if (typeof v !== 'string') throw new InvalidArgumentError(field, 'must be a string');
  } else if (shape === 'bool') {
    if (typeof v !== 'boolean') throw new InvalidArgumentError(field, 'must be a boolean');
  } else if (shape === 'int' || shape === 'uint') {
    if (typeof v !== 'number' || !Number.isSafeInteger(v))
      throw new InvalidArgumentError(field, 'must be an integer');
    if (shape === 'uint' && v < 0) throw new InvalidArgumentError(field, 'must not be negative');
  } else if ('array' in shape) {
    if (!Array.isArray(v)) throw new InvalidArgumentError(field, 'must be an array');
    v.forEach((e, i) => {
      checkShape(e, shape.array, `${field}[${i}]`);
    });
  } else {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new InvalidArgumentError(field || 'config', 'must be an object');
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const sub = shape.object[k];
      const f = field ? `${field}.${k}` : k;
      if (!sub) throw new InvalidArgumentError(f, 'unknown field');
      if (o[k] !== undefined) checkShape(o[k], sub, f);
    }
    for (const r of shape.required ?? []) {
      if (o[r] === undefined) throw new InvalidArgumentError(field ? `${field}.${r}` : r, 'is required');
    }
  }
}

const NAMESPACES = new Set(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup']);
export const PROPAGATIONS = new Set(['rslave', 'rshared', 'slave', 'shared', 'private', 'rprivate']);
const RLIMITS = new Set([
  'RLIMIT_CPU',
  'RLIMIT_FSIZE',
  'RLIMIT_DATA',
  'RLIMIT_STACK',
  'RLIMIT_CORE',
  'RLIMIT_RSS',
  'RLIMIT_NPROC',
  'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK',
  'RLIMIT_AS',
  'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING',
  'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE',
  'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME',
]);

function checkMappings(maps: IdMapping[] | undefined, field: string): void {
  if (!maps) return;
  if (maps.length > 340) throw new InvalidArgumentError(field, 'too many mappings');
  const sorted = (key: 'containerID' | 'hostID') =>
    maps.map((m, i) => ({ m, i })).sort((a, b) => a.m[key] - b.m[key]);
  for (const key of ['containerID', 'hostID'] as const) {
    const s = sorted(key);
    for (let j = 0; j < s.length; j++) {
      const { m, i } = s[j]!;
      if (m.size === 0) throw new InvalidArgumentError(`${field}[${i}].size`, 'must be positive');
      if (m[key] + m.size > 2 ** 32)
        throw new InvalidArgumentError(`${field}[${i}]`, 'range exceeds 32 bits');
      const next = s[j + 1];
      if (next && m[key] + m.size > next.m[key])
        throw new InvalidArgumentError(`${field}[${next.i}].${key}`, `overlaps ${field}[${i}]`);
    }
  }
}

function checkAbs(p: string, field: string): void {
  if (!p.startsWith('/')) throw new InvalidArgumentError(field, 'must be an absolute path');
  if (p.split('/').includes('..')) throw new InvalidArgumentError(field, 'must not contain ..');
}

/**
 * Validates a config strictly: unknown fields, wrong types and invalid values throw an
 * `InvalidArgumentError` naming the dotted field. Filesystem checks (rootfs exists) are
 * left to create, which knows the bundle dir.
 */
export function validateConfig(input: unknown): OciConfig {
  checkShape(input, CONFIG, '');
  const c = input as OciConfig;
  if (c.root.path === '') throw new InvalidArgumentError('root.path', 'must not be empty');
  if (c.process.args.length === 0) throw new InvalidArgumentError('process.args', 'must not be empty');
  if (c.process.cwd !== undefined) checkAbs(c.process.cwd, 'process.cwd');
  if (c.hostname !== undefined && (c.hostname.length > 64 || c.hostname.length === 0))
    throw new InvalidArgumentError('hostname', 'must be 1-64 characters');
  c.process.env?.forEach((e, i) => {
    if (!e.includes('=')) throw new InvalidArgumentError(`process.env[${i}]`, 'must be KEY=VALUE');
  });
  const caps = c.process.capabilities ?? {};
  for (const [set, names] of Object.entries(caps)) {
    (names as string[]).forEach((n, i) => {
      if (!(n in CAPABILITIES))
        throw new InvalidArgumentError(`process.capabilities.${set}[${i}]`, `unknown capability ${n}`);
    });
  }
  c.process.rlimits?.forEach((r, i) => {
    if (!RLIMITS.has(r.type))
      throw new InvalidArgumentError(`process.rlimits[${i}].type`, `unknown rlimit ${r.type}`);
    if (r.soft > r.hard) throw new InvalidArgumentError(`process.rlimits[${i}].soft`, 'exceeds hard');
  });
  const adj = c.process.oomScoreAdj;
  if (adj !== undefined && (adj < -1000 || adj > 1000))
    throw new InvalidArgumentError('process.oomScoreAdj', 'must be in [-1000, 1000]');
  c.mounts?.forEach((m, i) => {
    checkAbs(m.destination, `mounts[${i}].destination`);
    if ((m.type ?? 'bind') === 'bind' && !m.source)
      throw new InvalidArgumentError(`mounts[${i}].source`, 'is required');
  });
  const l = c.linux;
  if (!l) return c;
  const seen = new Set<string>();
  l.namespaces?.forEach((n, i) => {
    if (!NAMESPACES.has(n.type))
      throw new InvalidArgumentError(`linux.namespaces[${i}].type`, `unknown namespace ${n.type}`);
    if (seen.has(n.type))
      throw new InvalidArgumentError(`linux.namespaces[${i}].type`, `duplicate namespace ${n.type}`);
    if (n.path !== undefined)
      throw new InvalidArgumentError(`linux.namespaces[${i}].path`, 'joining namespaces is not supported');
    seen.add(n.type);
  });
  checkMappings(l.uidMappings, 'linux.uidMappings');
  checkMappings(l.gidMappings, 'linux.gidMappings');
  if (seen.has('user') && !(l.uidMappings?.length && l.gidMappings?.length))
    throw new InvalidArgumentError('linux.uidMappings', 'required with a user namespace');
  const r = l.resources;
  if (r?.memory?.limit !== undefined && r.memory.limit < 0 && r.memory.limit !== -1)
    throw new InvalidArgumentError('linux.resources.memory.limit', 'must not be negative');
  if (r?.memory?.reservation !== undefined && r.memory.reservation < 0)
    throw new InvalidArgumentError('linux.resources.memory.reservation', 'must not be negative');
  if (r?.cpu?.quota !== undefined && r.cpu.quota < 0 && r.cpu.quota !== -1)
    throw new InvalidArgumentError('linux.resources.cpu.quota', 'must not be negative');
  if (r?.cpu?.period !== undefined && (r.cpu.period < 1000 || r.cpu.period > 1_000_000))
    throw new InvalidArgumentError('linux.resources.cpu.period', 'must be in [1000, 1000000] us');
  if (r?.pids?.limit !== undefined && r.pids.limit < 0 && r.pids.limit !== -1)
    throw new InvalidArgumentError('linux.resources.pids.limit', 'must not be negative');
  if (l.cgroupsPath !== undefined) {
    const parts = l.cgroupsPath.split('/').filter((p) => p !== '');
    if (parts.length === 0 || parts.some((p) => p === '..' || p === '.'))
      throw new InvalidArgumentError('linux.cgroupsPath', 'must stay inside the cgroup parent');
  }
  if (l.rootfsPropagation !== undefined && !PROPAGATIONS.has(l.rootfsPropagation))
    throw new InvalidArgumentError('linux.rootfsPropagation', `unknown propagation ${l.rootfsPropagation}`);
  l.maskedPaths?.forEach((p, i) => {
    checkAbs(p, `linux.maskedPaths[${i}]`);
  });
  l.readonlyPaths?.forEach((p, i) => {
    checkAbs(p, `linux.readonlyPaths[${i}]`);
  });
  if (l.seccomp && !['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL'].includes(l.seccomp.defaultAction))
    throw new InvalidArgumentError(
      'linux.seccomp.defaultAction',
      `unsupported action ${l.seccomp.defaultAction}`,
    );
  return c;
}
