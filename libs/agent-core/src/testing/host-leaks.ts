import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type CgroupInfo, detectCgroups } from '@floe/runtime';
import { mountPoints } from '../recovery.js';

/**
 * What a test's containers could leave on the host, looked up by the test's own names only
 * (other agents and tests run beside it): cgroup dirs in every hierarchy detection finds,
 * mount points under a prefix, live processes.
 */
export function cgroupRoots(info: CgroupInfo = detectCgroups()): string[] {
  return [...new Set([...Object.values(info.v1Mounts), ...(info.unifiedPath ? [info.unifiedPath] : [])])];
}

/** `<root>/<parent>/<child>` dirs in every hierarchy (`id` given: only that container's). */
export function cgroupDirs(parent: string, id?: string): string[] {
  return cgroupRoots().flatMap((root) => {
    const p = path.join(root, parent);
    if (!existsSync(p)) return [];
    if (id) return existsSync(path.join(p, id)) ? [path.join(p, id)] : [];
    return readdirSync(p, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => path.join(p, d.name));
  });
}

export function mountsUnder(prefix: string): string[] {
  const p = `${path.resolve(prefix)}/`;
  return mountPoints().filter((m) => m.startsWith(p));
}

/** A zombie counts as dead: reaping it is its parent's business, not the test's. */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A container's cgroup file, from the hierarchy that has `controller` (v1), else cgroup2. */
export function cgroupFile(parent: string, id: string, v1: [string, string], v2: string): string {
  const info = detectCgroups();
  const [controller, file] = v1;
  if (info.mode !== 'v2' && info.v1Mounts[controller])
    return path.join(info.v1Mounts[controller], parent, id, file);
  return path.join(info.unifiedPath ?? '/sys/fs/cgroup', parent, id, v2);
}

/** Whether the kernel reports the container's cgroup frozen (whichever freezer it uses). */
export function kernelFrozen(parent: string, id: string): boolean {
  const info = detectCgroups();
  if (info.unifiedPath) {
    const events = path.join(info.unifiedPath, parent, id, 'cgroup.events');
    if (existsSync(events) && readFileSync(events, 'utf8').includes('frozen 1')) return true;
  }
  const v1 = info.v1Mounts.freezer && path.join(info.v1Mounts.freezer, parent, id, 'freezer.state');
  return !!v1 && existsSync(v1) && readFileSync(v1, 'utf8').startsWith('FROZEN');
}
