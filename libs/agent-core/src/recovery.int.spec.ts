import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultSpec, detectCgroups, HostMountsFfi, makeBusyboxRootfs, Runtime } from '@floe/runtime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeCgroupParent } from './agent-lock.js';
import { recover } from './recovery.js';
import { alive, cgroupDirs, mountsUnder } from './testing/host-leaks.js';

// What an agent killed with -9 leaves — running and frozen containers in its runtime's state
// dir, a cgroup with no saved state, shared points with code bound on them — and what the
// next agent's recovery must take down before it serves.
describe(`${recover.name} (real containers, cgroups and mounts)`, () => {
  let dir: string;
  let parent: string;
  let stateDir: string;
  let instancesDir: string;
  let rootfs: string;
  const mounts = new HostMountsFfi();
  const strays: ChildProcess[] = [];

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'floe-recovery-'));
    parent = `floe-test-recovery-${path.basename(dir).slice(-6)}`;
    stateDir = path.join(dir, 'state');
    instancesDir = path.join(dir, 'instances');
    rootfs = makeBusyboxRootfs(['sh', 'sleep']);
  });

  afterEach(async () => {
    for (const c of strays.splice(0)) c.kill('SIGKILL');
    // A failed test's leftovers: recovery is also the best cleanup there is.
    const rt = new Runtime({ stateDir, cgroupParent: parent });
    await recover(rt, mounts, instancesDir, parent).catch(() => {});
    rt.close();
    removeCgroupParent(rt.cgroups, parent);
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  /** The previous agent: starts containers, then "dies" (its Runtime is dropped, not deleted). */
  async function previousAgent(): Promise<number[]> {
    const rt = new Runtime({ stateDir, cgroupParent: parent });
    const spec = () => defaultSpec({ rootfs, args: ['/bin/sleep', '600'] });
    const running = await rt.run('left-running', spec());
    const frozen = await rt.run('left-frozen', spec());
    await frozen.freeze();
    rt.close();
    return [running.pid, frozen.pid];
  }

  /** Shared points with a bind on top, as the launcher leaves for each instance. */
  function leftMounts(): void {
    for (const id of ['i1', 'i2']) {
      const code = path.join(instancesDir, id, 'code');
      const tree = path.join(dir, `tree-${id}`);
      mkdirSync(code, { recursive: true });
      mkdirSync(tree, { recursive: true });
      mounts.makeSharedPoint(code);
      mounts.bindReadonly(tree, code);
    }
  }

  /** A process in a cgroup of the parent with no saved state (killed mid-create), frozen. */
  async function strayCgroup(): Promise<number> {
    const info = detectCgroups();
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    strays.push(child);
    await new Promise((r) => child.once('spawn', r));
    const hierarchies = [info.v1Mounts.memory, info.v1Mounts.freezer, info.unifiedPath].filter(
      (h): h is string => !!h,
    );
    for (const h of new Set(hierarchies)) {
      const d = path.join(h, parent, 'stray');
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, 'cgroup.procs'), String(child.pid));
    }
    if (info.v1Mounts.freezer)
      writeFileSync(path.join(info.v1Mounts.freezer, parent, 'stray', 'freezer.state'), 'FROZEN');
    return child.pid!;
  }

  it('destroys every container of the state dir, running or frozen, and removes their cgroups', async () => {
    const pids = await previousAgent();
    expect(pids.filter(alive)).toEqual(pids);
    expect(cgroupDirs(parent).length).toBeGreaterThan(0);

    const rt = new Runtime({ stateDir, cgroupParent: parent });
    try {
      expect(await recover(rt, mounts, instancesDir, parent)).toEqual({ containers: 2, mounts: 0 });
      expect(await rt.list()).toEqual([]);
    } finally {
      rt.close();
    }
    await expect.poll(() => pids.filter(alive), { timeout: 20_000 }).toEqual([]);
    expect(cgroupDirs(parent)).toEqual([]);
  });

  it('detaches every mount under the instances dir, binds before their shared points, and removes the dir', async () => {
    leftMounts();
    expect(mountsUnder(instancesDir)).toHaveLength(4);
    const rt = new Runtime({ stateDir, cgroupParent: parent });
    try {
      expect(await recover(rt, mounts, instancesDir, parent)).toEqual({ containers: 0, mounts: 4 });
    } finally {
      rt.close();
    }
    expect(mountsUnder(instancesDir)).toEqual([]);
    expect(existsSync(instancesDir)).toBe(false);
    // Only what was under the instances dir: the trees bound there are untouched.
    expect(existsSync(path.join(dir, 'tree-i1'))).toBe(true);
  });

  it('kills a process left in a cgroup with no saved state, frozen or not, and removes that cgroup', async () => {
    const pid = await strayCgroup();
    const rt = new Runtime({ stateDir, cgroupParent: parent });
    try {
      expect(await recover(rt, mounts, instancesDir, parent)).toEqual({ containers: 1, mounts: 0 });
    } finally {
      rt.close();
    }
    await expect.poll(() => alive(pid), { timeout: 20_000 }).toBe(false);
    expect(cgroupDirs(parent)).toEqual([]);
  });

  it('all at once, then again: the second run finds nothing', async () => {
    const pids = await previousAgent();
    leftMounts();
    pids.push(await strayCgroup());
    const rt = new Runtime({ stateDir, cgroupParent: parent });
    try {
      expect(await recover(rt, mounts, instancesDir, parent)).toEqual({ containers: 3, mounts: 4 });
      expect(await recover(rt, mounts, instancesDir, parent)).toEqual({ containers: 0, mounts: 0 });
    } finally {
      rt.close();
    }
    await expect.poll(() => pids.filter(alive), { timeout: 20_000 }).toEqual([]);
    expect(cgroupDirs(parent)).toEqual([]);
    expect(mountsUnder(instancesDir)).toEqual([]);
  });
});
