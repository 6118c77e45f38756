import fs from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError, NotFoundError } from '@floe/contracts';
import { ContainerCgroup } from './cgroups/container-cgroup.js';
import type { CgroupInfo } from './cgroups/types.js';
import { signalNumber, writeFifo } from './container.js';
import { type PersistedState, procStartTime, type StateStore } from './state-store.js';
import type { Syscalls } from './sys/syscalls.js';

/**
 * A container created by another process (the CLI, or a runtime before a restart), driven
 * through its persisted state: the pid is trusted only while its start time matches, and
 * the signal goes through a pidfd opened after that check, so a reused pid is never hit.
 */
export class DetachedContainer {
  readonly cgroup: ContainerCgroup;

  constructor(
    readonly state: PersistedState,
    private readonly store: StateStore,
    private readonly sys: Syscalls,
    info: CgroupInfo,
  ) {
    const cg = state.cgroup;
    this.cgroup = new ContainerCgroup(info, cg.parent, cg.rel, cg.driver, cg.freezer);
  }

  static open(id: string, store: StateStore, sys: Syscalls, info: CgroupInfo): DetachedContainer {
    const s = store.read(id);
    if (!s) throw new NotFoundError(`container ${id} not found`, { id });
    return new DetachedContainer(s, store, sys, info);
  }

  get alive(): boolean {
    return procStartTime(this.state.pid) === this.state.startTime;
  }

  /** Writes the start byte into exec.fifo (runc's exec.fifo protocol). */
  start(): void {
    if (!this.alive) throw new FailedPreconditionError(`container ${this.state.id} is not running`);
    writeFifo(path.join(this.store.containerDir(this.state.id), 'exec.fifo'));
    this.store.write({ ...this.state, status: 'running' });
  }

  kill(signal: NodeJS.Signals | number): void {
    if (!this.alive) throw new FailedPreconditionError(`container ${this.state.id} is not running`);
    const fd = this.sys.pidfdOpen(this.state.pid);
    try {
      // The pidfd pins the process: re-check that it is still ours before signalling.
      if (!this.alive) throw new FailedPreconditionError(`container ${this.state.id} is not running`);
      this.sys.pidfdSendSignal(fd, signalNumber(signal));
    } finally {
      fs.closeSync(fd);
    }
  }

  async freeze(): Promise<void> {
    await this.cgroup.freezer.freeze();
  }

  async thaw(): Promise<void> {
    this.thawSync();
  }

  thawSync(): void {
    this.cgroup.freezer.thawSync();
  }

  /** Kills everything in the cgroup and removes cgroups and state. */
  async destroy(): Promise<void> {
    if (this.alive) {
      try {
        this.kill('SIGKILL');
      } catch {}
    }
    try {
      await this.cgroup.freezer.thaw();
    } catch {}
    try {
      await this.cgroup.killAll();
    } catch {}
    await this.cgroup.destroy();
    this.store.remove(this.state.id);
  }
}
