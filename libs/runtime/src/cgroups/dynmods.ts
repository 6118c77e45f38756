import fs from 'node:fs';
import path from 'node:path';
import { MNT_DETACH } from '../spawn/mount-options.js';
import type { Syscalls } from '../sys/syscalls.js';
import type { CgroupInfo } from './types.js';

/**
 * Why: a v1 `cgroup.procs` write takes the global cgroup_threadgroup_rwsem for writing, and
 * after idle that waits for an RCU grace period (6–80 ms measured here), on every cold start.
 * Linux ≥ 6.18 switches such writes to a per-thread-group rwsem (no grace period) once any
 * hierarchy is mounted with `favordynmods`, and keeps it so until reboot ("can't be
 * disabled"). So a throwaway named hierarchy is mounted with it and unmounted at once: nothing
 * stays mounted. Older kernels drop the effect with the mount (or reject the option); cgroup2
 * hosts attach with CLONE_INTO_CGROUP and never need it.
 */
export type DynmodsOutcome =
  | { state: 'enabled' }
  | { state: 'not-needed'; reason: string }
  | { state: 'unsupported'; reason: string };

const PREFIX = '.cgroup-dynmods-';

/** The scratch mount point this process uses under `dir`. */
export function dynmodsMountPoint(dir: string, pid = process.pid): string {
  return path.join(dir, `${PREFIX}${pid}`);
}

/** Mounts and unmounts a `favordynmods` named v1 hierarchy at a scratch dir in `dir`. */
export function favorDynmods(sys: Syscalls, info: CgroupInfo, dir: string): DynmodsOutcome {
  if (Object.keys(info.v1Mounts).length === 0)
    return { state: 'not-needed', reason: `${info.mode} host: no v1 controller to attach to` };
  sweepStale(sys, dir);
  const target = dynmodsMountPoint(dir);
  fs.mkdirSync(target, { recursive: true });
  try {
    // A name of its own: a hierarchy named like an existing one would be reused with its options.
    sys.mount('cgroup', target, 'cgroup', 0, `none,name=floe-dynmods-${process.pid},favordynmods`);
  } catch (e) {
    fs.rmdirSync(target);
    return { state: 'unsupported', reason: (e as Error).message };
  }
  // No child cgroup was made, so the unmount destroys the hierarchy's root.
  sys.umount2(target, MNT_DETACH);
  fs.rmdirSync(target);
  return { state: 'enabled' };
}

/** A scratch mount point a process that died between mount and unmount left behind. */
function sweepStale(sys: Syscalls, dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(n.slice(PREFIX.length));
    if (pid !== process.pid && alive(pid)) continue;
    const p = path.join(dir, n);
    try {
      sys.umount2(p, MNT_DETACH);
    } catch {}
    try {
      fs.rmdirSync(p);
    } catch {}
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
