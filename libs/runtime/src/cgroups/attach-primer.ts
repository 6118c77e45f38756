import fs from 'node:fs';
import path from 'node:path';
import type { CgroupInfo } from './types.js';

/**
 * The v1 cgroup.procs file that lists this process, in the first v1 hierarchy of
 * `/proc/self/cgroup` that is mounted; undefined on pure v2 (nothing to prime there).
 */
export function ownV1ProcsFile(info: CgroupInfo, selfCgroup: string): string | undefined {
  for (const line of selfCgroup.split('\n')) {
    const m = /^\d+:([^:]+):(\/.*)$/.exec(line);
    if (!m) continue;
    for (const ctl of m[1]!.split(',')) {
      const mount = info.v1Mounts[ctl];
      if (mount) return path.join(mount, m[2]!, 'cgroup.procs');
    }
  }
  return undefined;
}

/**
 * A v1 cgroup.procs write takes cgroup_threadgroup_rwsem for writing, whose first writer after
 * idle waits out an RCU grace period (6-16 ms here); for about one more grace period after a
 * writer leaves, the next one does not wait. `prime()` is such a write, off the main thread:
 * it lists this process again in the cgroup it is already in (a migration with nothing to
 * move), so a caller that knows a spawn is coming overlaps that wait with its own work.
 * Concurrent calls share one write; a failed write is ignored (the spawn just pays the wait).
 */
export class CgroupAttachPrimer {
  private inflight?: Promise<void>;

  constructor(private readonly procsFile: string | undefined) {}

  static forProcess(info: CgroupInfo): CgroupAttachPrimer {
    let self = '';
    try {
      self = fs.readFileSync('/proc/self/cgroup', 'utf8');
    } catch {}
    return new CgroupAttachPrimer(info.mode === 'v2' ? undefined : ownV1ProcsFile(info, self));
  }

  prime(): Promise<void> {
    const file = this.procsFile;
    if (!file) return Promise.resolve();
    this.inflight ??= fs.promises
      .writeFile(file, String(process.pid))
      .catch(() => {})
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }
}
