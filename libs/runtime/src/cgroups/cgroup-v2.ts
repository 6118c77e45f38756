import fs from 'node:fs';
import path from 'node:path';
import { parseKeyed, readFile, writeFile } from '../sys/fs-errors.js';
import { mkdirCgroup, readPids, rmdirCgroup } from './dirs.js';
import type { CgroupBackend, CgroupResources, CgroupStats } from './types.js';

const WANTED = ['cpu', 'memory', 'pids'];

/**
 * cgroup v2 at `<unified>/<parent>/<rel>`. On a hybrid host the same class owns the
 * controller-less unified dir (freeze, kill, CLONE_INTO_CGROUP) with `resources = false`.
 */
export class CgroupV2 implements CgroupBackend {
  readonly version = 'v2';
  readonly dir: string;
  private readonly parentDir: string;

  constructor(
    private readonly unified: string,
    parent: string,
    rel: string,
    private readonly resources = true,
  ) {
    this.parentDir = path.join(unified, parent);
    this.dir = path.join(this.parentDir, rel);
  }

  create(): void {
    if (this.resources) this.enableControllers();
    mkdirCgroup(this.dir, '');
  }

  /** Enables cpu/memory/pids in subtree_control from the root down to the container's parent. */
  private enableControllers(): void {
    const avail = new Set(readFile(`${this.unified}/cgroup.controllers`).trim().split(/\s+/));
    const want = WANTED.filter((c) => avail.has(c));
    if (!want.length) return;
    const rel = path.relative(this.unified, path.dirname(this.dir)).split('/').filter(Boolean);
    let cur = this.unified;
    for (let i = 0; i <= rel.length; i++) {
      const enabled = new Set(readFile(`${cur}/cgroup.subtree_control`).trim().split(/\s+/));
      const missing = want.filter((c) => !enabled.has(c));
      if (missing.length) writeFile(`${cur}/cgroup.subtree_control`, missing.map((c) => `+${c}`).join(' '));
      if (i < rel.length) {
        cur = path.join(cur, rel[i]!);
        mkdirCgroup(cur, '');
      }
    }
  }

  apply(r: CgroupResources): void {
    if (!this.resources) return;
    const d = this.dir;
    if (r.memoryLimit !== undefined)
      writeFile(`${d}/memory.max`, r.memoryLimit < 0 ? 'max' : String(r.memoryLimit));
    if (r.memoryReservation !== undefined) writeFile(`${d}/memory.low`, String(r.memoryReservation));
    if (r.cpuQuota !== undefined || r.cpuPeriod !== undefined) {
      const quota = r.cpuQuota === undefined || r.cpuQuota < 0 ? 'max' : String(r.cpuQuota);
      writeFile(`${d}/cpu.max`, `${quota} ${r.cpuPeriod ?? 100000}`);
    }
    // OCI shares (2..262144, default 1024) to cpu.weight (1..10000, default 100), as crun does.
    if (r.cpuShares !== undefined) writeFile(`${d}/cpu.weight`, String(sharesToWeight(r.cpuShares)));
    if (r.pidsLimit !== undefined) writeFile(`${d}/pids.max`, r.pidsLimit < 0 ? 'max' : String(r.pidsLimit));
  }

  cpuUsageUsec(): number {
    return parseKeyed(readFile(`${this.dir}/cpu.stat`)).usage_usec ?? 0;
  }

  procsFiles(): string[] {
    return [`${this.dir}/cgroup.procs`];
  }

  stats(): CgroupStats {
    const d = this.dir;
    const cpu = parseKeyed(readFile(`${d}/cpu.stat`));
    const has = (f: string) => fs.existsSync(`${d}/${f}`);
    return {
      memoryBytes: has('memory.current') ? Number(readFile(`${d}/memory.current`)) : 0,
      memoryPeakBytes: has('memory.peak') ? Number(readFile(`${d}/memory.peak`)) : 0,
      cpuUsageUsec: cpu.usage_usec ?? 0,
      nrThrottled: cpu.nr_throttled ?? 0,
      throttledUsec: cpu.throttled_usec ?? 0,
      oomKills: this.oomKills(),
    };
  }

  oomKills(): number {
    const f = `${this.dir}/memory.events`;
    return fs.existsSync(f) ? (parseKeyed(readFile(f)).oom_kill ?? 0) : 0;
  }

  setMemoryLimit(bytes: number | 'max'): void {
    writeFile(`${this.dir}/memory.max`, String(bytes), 'set memory limit');
  }

  pids(): number[] {
    return readPids(`${this.dir}/cgroup.procs`);
  }

  /**
   * `populated` from cgroup.events. Unlike cgroup.procs it still counts a killed task until
   * it is reaped, which is what makes rmdir fail with EBUSY; a missing dir is empty.
   */
  populated(): boolean {
    try {
      return !readFile(`${this.dir}/cgroup.events`).includes('populated 0');
    } catch {
      return false;
    }
  }

  /** cgroup.kill: SIGKILL to every process in the subtree, atomically w.r.t. forks. */
  kill(): void {
    writeFile(`${this.dir}/cgroup.kill`, '1', 'kill cgroup');
  }

  destroy(): void {
    rmdirCgroup(this.dir, this.parentDir);
  }
}

export function sharesToWeight(shares: number): number {
  if (shares === 0) return 100;
  return Math.max(1, Math.min(10000, 1 + Math.floor(((shares - 2) * 9999) / 262142)));
}
