import fs from 'node:fs';
import type { CgroupInfo } from './types.js';

const ROOT = '/sys/fs/cgroup';

/** Mount options of a v1 cgroup mount that are not controllers (cgroup-v1 docs, kernel/cgroup/cgroup-v1.c). */
const V1_OPTIONS = new Set([
  'rw',
  'ro',
  'none',
  'all',
  'noprefix',
  'xattr',
  'clone_children',
  'cpuset_v2_mode',
]);

/**
 * Detects pure v2, hybrid (v1 controllers + unified) or v1 from mountinfo. `controllersOf`
 * reads a unified mount's cgroup.controllers (given, a recorded host layout can be replayed).
 */
export function detectCgroups(
  mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8'),
  controllersOf: (unifiedPath: string) => string[] = readControllers,
): CgroupInfo {
  const v1Mounts: Record<string, string> = {};
  let unifiedPath: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const mountPoint = pre.split(' ')[4]!;
    const [fstype, , superOpts] = post.split(' ');
    if (fstype === 'cgroup2' && (!unifiedPath || mountPoint === ROOT)) unifiedPath = mountPoint;
    if (fstype === 'cgroup' && superOpts) {
      for (const o of superOpts.split(',')) {
        if (V1_OPTIONS.has(o) || o.includes('=') || o.endsWith('favordynmods')) continue;
        if (!v1Mounts[o]) v1Mounts[o] = mountPoint;
      }
    }
  }
  const v2Controllers = unifiedPath ? controllersOf(unifiedPath) : [];
  const mode =
    unifiedPath && Object.keys(v1Mounts).filter((c) => c !== 'name').length === 0
      ? 'v2'
      : unifiedPath
        ? 'hybrid'
        : 'v1';
  return { mode, unifiedPath, v2Controllers, v1Mounts };
}

function readControllers(dir: string): string[] {
  try {
    return fs.readFileSync(`${dir}/cgroup.controllers`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}
