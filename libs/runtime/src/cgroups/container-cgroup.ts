import fs from 'node:fs';
import { FailedPreconditionError } from '@floe/contracts';
import { FreezerV1, FreezerV2 } from '../freezer.js';
import { toSyscallError } from '../sys/fs-errors.js';
import { CgroupV1, V1_CONTROLLERS } from './cgroup-v1.js';
import { CgroupV2 } from './cgroup-v2.js';
import type { CgroupBackend, CgroupInfo, CgroupResources, CgroupStats, Freezer } from './types.js';

export type CgroupDriver = 'auto' | 'v1' | 'v2' | 'hybrid';
export type FreezerChoice = 'auto' | 'v1' | 'v2';

/**
 * Every cgroup of one container: the resource backend (v1 or v2), the unified dir when
 * there is one (CLONE_INTO_CGROUP, cgroup.kill, v2 freezer), and the chosen freezer.
 */
export class ContainerCgroup {
  readonly resources: CgroupBackend;
  readonly unified?: CgroupV2;
  readonly mode: 'v1' | 'v2' | 'hybrid';
  private freezerImpl?: Freezer;

  constructor(
    info: CgroupInfo,
    parent: string,
    readonly rel: string,
    driver: CgroupDriver = 'auto',
    private readonly freezerChoice: FreezerChoice = 'auto',
    resources?: CgroupResources,
  ) {
    const mode = driver === 'auto' ? info.mode : driver;
    this.mode = mode;
    if (mode === 'v2') {
      if (!info.unifiedPath)
        throw new FailedPreconditionError('cgroup driver v2: no unified hierarchy mounted');
      const v2 = new CgroupV2(info.unifiedPath, parent, rel);
      this.resources = v2;
      this.unified = v2;
    } else {
      const unified = mode === 'hybrid' ? info.unifiedPath : undefined;
      this.resources = new CgroupV1(
        info.v1Mounts,
        parent,
        rel,
        v1Controllers(resources, !!unified, freezerChoice),
      );
      if (unified) this.unified = new CgroupV2(unified, parent, rel, false);
    }
    if (freezerChoice === 'v2' && !this.unified)
      throw new FailedPreconditionError('freezer v2: no unified cgroup for this container');
  }

  create(r: CgroupResources): void {
    this.unified?.create();
    if (this.resources !== this.unified) this.resources.create();
    this.resources.apply(r);
  }

  /** An fd of the unified dir for clone3(CLONE_INTO_CGROUP), or -1. Caller closes it. */
  openCloneFd(): number {
    if (!this.unified) return -1;
    try {
      return fs.openSync(this.unified.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch (err) {
      throw toSyscallError(err, 'open', this.unified.dir, 'open cgroup for clone');
    }
  }

  /**
   * cgroup.procs files the parent must write the child's pid into while it waits (v1
   * hierarchies). The first v1 write after ~20 ms without a migration waits for an RCU grace
   * period (percpu rwsem, 6-16 ms); back-to-back writes cost ~0.005 ms, so write them all in
   * one burst and prefer CLONE_INTO_CGROUP wherever a unified dir exists.
   */
  attachFiles(): string[] {
    return this.resources === this.unified ? [] : this.resources.procsFiles();
  }

  get freezer(): Freezer {
    if (!this.freezerImpl) {
      const useV2 = this.unified && this.freezerChoice !== 'v1';
      if (useV2) this.freezerImpl = new FreezerV2(this.unified!.dir);
      else {
        const dir = (this.resources as CgroupV1).dir('freezer');
        if (!dir) throw new FailedPreconditionError('no freezer cgroup available');
        this.freezerImpl = new FreezerV1(dir);
      }
    }
    return this.freezerImpl;
  }

  stats(): CgroupStats {
    const s = this.resources.stats();
    if (this.unified && this.unified !== this.resources) {
      // The unified cgroup's core cpu.stat has usage_usec even without the cpu controller.
      s.cpuUsageUsec = this.unified.cpuUsageUsec();
    }
    return s;
  }

  pids(): number[] {
    return (this.unified ?? this.resources).pids();
  }

  /** SIGKILL everything: cgroup.kill, or on pure v1 freeze + SIGKILL each + thaw (no fork races). */
  async killAll(): Promise<void> {
    if (this.unified) {
      try {
        this.unified.kill();
      } catch (err) {
        if ((err as { errno?: number }).errno !== 2) throw err;
      }
      // A v1-frozen task does not act on SIGKILL until thawed.
      if (this.freezerImpl?.version === 'v1' && this.freezerImpl.isFrozen()) await this.freezerImpl.thaw();
      return;
    }
    const f = this.freezer;
    await f.freeze();
    for (const pid of this.resources.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await f.thaw();
  }

  /**
   * Waits (bounded, ~5 s) until no process is left, then removes every dir. On cgroup2 it
   * waits for `populated 0`: a killed task leaves cgroup.procs before it is reaped, and until
   * then rmdir fails with EBUSY (seen under load, where exits take longer than rmdir retries).
   */
  async destroy(): Promise<void> {
    this.freezerImpl?.close();
    this.freezerImpl = undefined;
    const busy = () => (this.unified ? this.unified.populated() : this.pids().length > 0);
    for (let i = 0; i < 5000 && busy(); i++) await new Promise((r) => setTimeout(r, 1));
    this.unified?.destroy();
    if (this.resources !== this.unified) this.resources.destroy();
  }
}

/**
 * v1 hierarchies a container joins. Each costs a mkdir and a cgroup.procs write per spawn,
 * so only what is needed: memory always (limits, OOM counter, usage); cpu and pids when
 * limited; cpuacct and freezer only when no unified cgroup provides usage and freezing.
 * `resources` undefined (delete of a persisted container) means every hierarchy.
 */
export function v1Controllers(
  r: CgroupResources | undefined,
  unified: boolean,
  freezer: FreezerChoice,
): string[] {
  if (!r) return [...V1_CONTROLLERS];
  const out = ['memory'];
  if (r.cpuQuota !== undefined || r.cpuPeriod !== undefined || r.cpuShares !== undefined) out.push('cpu');
  if (r.pidsLimit !== undefined) out.push('pids');
  if (!unified) out.push('cpuacct');
  if (!unified || freezer === 'v1') out.push('freezer');
  return out;
}
