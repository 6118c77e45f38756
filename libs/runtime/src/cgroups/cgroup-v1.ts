import path from 'node:path';
import { parseKeyed, readFile, writeFile } from '../sys/fs-errors.js';
import { mkdirCgroup, readPids, rmdirCgroup } from './dirs.js';
import type { CgroupBackend, CgroupResources, CgroupStats } from './types.js';

/** Controllers a v1 container joins; each is its own hierarchy (cpu and cpuacct may share one). */
export const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer'] as const;

/** cgroup v1: one dir per controller hierarchy at `<mount>/<parent>/<rel>`. */
export class CgroupV1 implements CgroupBackend {
  readonly version = 'v1';
  private readonly dirs: Record<string, string> = {};
  private readonly roots: Record<string, string> = {};

  /** `controllers` limits which hierarchies the container joins (default: all of V1_CONTROLLERS). */
  constructor(
    mounts: Record<string, string>,
    parent: string,
    rel: string,
    controllers: readonly string[] = V1_CONTROLLERS,
  ) {
    for (const c of controllers) {
      const m = mounts[c];
      if (!m) continue;
      this.roots[c] = path.join(m, parent);
      this.dirs[c] = path.join(m, parent, rel);
    }
  }

  dir(controller: string): string | undefined {
    return this.dirs[controller];
  }

  create(): void {
    for (const d of new Set(Object.values(this.dirs))) mkdirCgroup(d, '');
  }

  apply(r: CgroupResources): void {
    const mem = this.dirs.memory;
    if (mem && r.memoryLimit !== undefined) writeFile(`${mem}/memory.limit_in_bytes`, String(r.memoryLimit));
    if (mem && r.memoryReservation !== undefined)
      writeFile(`${mem}/memory.soft_limit_in_bytes`, String(r.memoryReservation));
    const cpu = this.dirs.cpu;
    if (cpu && r.cpuPeriod !== undefined) writeFile(`${cpu}/cpu.cfs_period_us`, String(r.cpuPeriod));
    if (cpu && r.cpuQuota !== undefined) writeFile(`${cpu}/cpu.cfs_quota_us`, String(r.cpuQuota));
    if (cpu && r.cpuShares !== undefined) writeFile(`${cpu}/cpu.shares`, String(r.cpuShares));
    const pids = this.dirs.pids;
    if (pids && r.pidsLimit !== undefined)
      writeFile(`${pids}/pids.max`, r.pidsLimit < 0 ? 'max' : String(r.pidsLimit));
  }

  procsFiles(): string[] {
    return [...new Set(Object.values(this.dirs))].map((d) => `${d}/cgroup.procs`);
  }

  stats(): CgroupStats {
    const mem = this.dirs.memory;
    const cpu = this.dirs.cpu ? parseKeyed(readFile(`${this.dirs.cpu}/cpu.stat`)) : {};
    const usageNs = this.dirs.cpuacct ? Number(readFile(`${this.dirs.cpuacct}/cpuacct.usage`)) : 0;
    // cpu.stat of v1 has no usage; cpuacct may be absent when the unified cgroup reports it.
    return {
      memoryBytes: mem ? Number(readFile(`${mem}/memory.usage_in_bytes`)) : 0,
      memoryPeakBytes: mem ? Number(readFile(`${mem}/memory.max_usage_in_bytes`)) : 0,
      cpuUsageUsec: Math.round(usageNs / 1000),
      nrThrottled: cpu.nr_throttled ?? 0,
      throttledUsec: Math.round((cpu.throttled_time ?? 0) / 1000),
      oomKills: this.oomKills(),
    };
  }

  oomKills(): number {
    const mem = this.dirs.memory;
    return mem ? (parseKeyed(readFile(`${mem}/memory.oom_control`)).oom_kill ?? 0) : 0;
  }

  setMemoryLimit(bytes: number | 'max'): void {
    const mem = this.dirs.memory;
    if (mem)
      writeFile(`${mem}/memory.limit_in_bytes`, bytes === 'max' ? '-1' : String(bytes), 'set memory limit');
  }

  pids(): number[] {
    const first = Object.values(this.dirs)[0];
    return first ? readPids(`${first}/cgroup.procs`) : [];
  }

  destroy(): void {
    for (const c of Object.keys(this.dirs)) rmdirCgroup(this.dirs[c]!, this.roots[c]!);
  }
}
