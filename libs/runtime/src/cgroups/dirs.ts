import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, toSyscallError } from '../sys/fs-errors.js';

/** mkdir -p of `rel` under `base`, naming the path on failure. */
export function mkdirCgroup(base: string, rel: string): string {
  const dir = path.join(base, rel);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw toSyscallError(err, 'mkdir', dir, 'create cgroup');
  }
  return dir;
}

/**
 * rmdir of the leaf, then of its now-empty ancestors up to (not including) `stopAt`.
 * Missing dirs are fine: delete is idempotent. EBUSY retries briefly: a killed process
 * leaves the cgroup asynchronously.
 */
export function rmdirCgroup(dir: string, stopAt: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(dir);
      break;
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') break;
      if (code === 'EBUSY' && attempt < 200) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        continue;
      }
      throw toSyscallError(err, 'rmdir', dir, 'remove cgroup');
    }
  }
  let up = path.dirname(dir);
  while (up.startsWith(`${stopAt}/`)) {
    try {
      fs.rmdirSync(up);
    } catch {
      break;
    }
    up = path.dirname(up);
  }
}

export function readPids(procs: string): number[] {
  try {
    return fs.readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw toSyscallError(err, 'read', procs);
  }
}
