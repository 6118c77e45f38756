import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FailedPreconditionError } from '@floe/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockStateDir, removeCgroupParent } from './agent-lock.js';

describe(lockStateDir.name, () => {
  let dir: string;
  let other: ChildProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'floe-lock-'));
  });
  afterEach(async () => {
    if (other && other.exitCode === null && other.signalCode === null) {
      other.kill('SIGKILL');
      await new Promise((r) => other?.once('exit', r));
    }
    other = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** A live process that is not this one, standing in for a first agent. */
  async function liveOther(): Promise<number> {
    other = spawn('sleep', ['60'], { stdio: 'ignore' });
    await new Promise((r) => other?.once('spawn', r));
    return other.pid!;
  }

  it('takes a free state dir, writing its pid; unlock empties the pid file', () => {
    const unlock = lockStateDir(dir);
    expect(readFileSync(path.join(dir, 'agent.pid'), 'utf8')).toBe(String(process.pid));
    unlock();
    expect(readFileSync(path.join(dir, 'agent.pid'), 'utf8')).toBe('');
    // Unlocked: the next agent takes it.
    lockStateDir(dir)();
  });

  it('refuses a state dir whose pid file names a live agent, naming the dir and the pid, and leaves the file', async () => {
    const pid = await liveOther();
    writeFileSync(path.join(dir, 'agent.pid'), String(pid));
    let err: unknown;
    try {
      lockStateDir(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect(err).toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: `state dir ${dir} is in use by agent pid ${pid}; give each agent its own FLOE_STATE_DIR`,
    });
    expect(readFileSync(path.join(dir, 'agent.pid'), 'utf8')).toBe(String(pid));
  });

  it('takes over from an agent that died without unlocking (kill -9)', async () => {
    const pid = await liveOther();
    writeFileSync(path.join(dir, 'agent.pid'), String(pid));
    other?.kill('SIGKILL');
    await new Promise((r) => other?.once('exit', r));
    const unlock = lockStateDir(dir);
    expect(readFileSync(path.join(dir, 'agent.pid'), 'utf8')).toBe(String(process.pid));
    unlock();
  });

  it('takes a dir whose pid file is empty or garbage', () => {
    writeFileSync(path.join(dir, 'agent.pid'), 'not a pid');
    lockStateDir(dir)();
    writeFileSync(path.join(dir, 'agent.pid'), '');
    lockStateDir(dir)();
  });
});

describe(removeCgroupParent.name, () => {
  it('removes the (empty) parent dir from every hierarchy given, v1 and unified, and ignores what is absent', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'floe-cgparent-'));
    try {
      const roots = ['memory', 'pids', 'unified'].map((h) => path.join(root, h));
      for (const r of roots.slice(0, 2)) mkdirSync(path.join(r, 'floe-a'), { recursive: true });
      mkdirSync(path.join(root, 'unified'));
      removeCgroupParent(
        { v1Mounts: { memory: roots[0]!, pids: roots[1]! }, unifiedPath: roots[2]! },
        'floe-a',
      );
      for (const r of roots) expect(existsSync(path.join(r, 'floe-a'))).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
