import { closeSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError } from '@floe/contracts';
import type { UsernsSettings } from './user-namespaces.js';

/** Host-wide: every agent on the host looks here, whatever its state dir. */
export const USERNS_LOCK_DIR = '/run/floe/userns';

/** The highest host id a range may reach: (uid_t)-1 means "no id" to the kernel. */
const MAX_ID = 2 ** 32 - 2;

/** flock(2), as libs/runtime's NativeSyscalls has it. */
export interface FileLocks {
  tryLock(fd: number, path: string): boolean;
}

export interface UsernsLease {
  /** The settings to hand out ranges from: the block this agent holds. */
  settings: UsernsSettings;
  lockFile: string;
  release(): void;
}

/**
 * The block of host ids (`count` ranges of `size`) this agent hands out, leased host-wide.
 * Each agent's UserNamespaces gives every instance a range of its own, but only among that
 * agent's instances: two agents on one host with the same settings would give two functions
 * the same host ids. So each agent holds a flock on `<dir>/<block base>.lock` for its life,
 * and the kernel drops it when the agent dies, kill -9 included. Unless the base is pinned
 * (FLOE_USERNS_BASE set), a held block makes the agent try the next one up.
 */
export function leaseUsernsBlock(
  settings: UsernsSettings,
  o: { pinned: boolean; locks: FileLocks; holder: string; dir?: string },
): UsernsLease {
  const dir = o.dir ?? USERNS_LOCK_DIR;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const span = settings.size * settings.count;
  for (let base = settings.base; base + span - 1 <= MAX_ID; base += span) {
    const lockFile = path.join(dir, `${base}.lock`);
    const fd = openSync(lockFile, 'a', 0o600);
    let held = false;
    try {
      held = o.locks.tryLock(fd, lockFile);
    } finally {
      if (!held) closeSync(fd);
    }
    if (held) {
      // Who holds it, for whoever finds the file; the lock, not this text, is what counts.
      ftruncateSync(fd, 0);
      writeSync(fd, `${o.holder}: host ids ${base}-${base + span - 1}\n`);
      return { settings: { ...settings, base }, lockFile, release: () => closeSync(fd) };
    }
    if (o.pinned)
      throw new FailedPreconditionError(
        `host ids ${base}-${base + span - 1} are leased by another agent on this host (${lockFile}); give each agent its own FLOE_USERNS_BASE`,
        { field: 'FLOE_USERNS_BASE' },
      );
  }
  throw new FailedPreconditionError(
    `every block of ${span} host ids from ${settings.base} up to ${MAX_ID} is leased by another agent on this host (${dir}); lower FLOE_USERNS_COUNT or FLOE_USERNS_SIZE`,
    { field: 'FLOE_USERNS_COUNT' },
  );
}
