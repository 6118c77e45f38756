import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FailedPreconditionError } from '@floe/contracts';
import { NativeSyscalls } from '@floe/runtime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { leaseUsernsBlock, type UsernsLease } from './userns-lease.js';

// Real flock(2) through the shim, in a lock dir of the test's own (the agent's is /run/floe/userns).
describe('leaseUsernsBlock', () => {
  const locks = new NativeSyscalls();
  const settings = { base: 1 << 30, size: 65536, count: 1024 };
  const span = 65536 * 1024;
  let dir: string;
  const held: UsernsLease[] = [];
  const children: ChildProcess[] = [];
  const lease = (pinned = false, s = settings) => {
    const l = leaseUsernsBlock(s, { pinned, locks, holder: 'test', dir });
    held.push(l);
    return l;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'floe-userns-lease-'));
  });
  afterEach(() => {
    for (const l of held.splice(0)) l.release();
    // The group: flock(1) and its sleep, which outlives a killed flock(1).
    for (const c of children.splice(0))
      try {
        process.kill(-(c.pid as number), 'SIGKILL');
      } catch {}
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives a second agent on the host the next block, not the same host ids', () => {
    const a = lease();
    const b = lease();
    expect(a.settings.base).toBe(1 << 30);
    expect(b.settings.base).toBe((1 << 30) + span);
    expect(b.settings).toMatchObject({ size: 65536, count: 1024 });
    expect(statSync(a.lockFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(a.lockFile, 'utf8')).toContain(`host ids ${1 << 30}-${(1 << 30) + span - 1}`);
  });

  it('refuses a pinned base another agent holds, naming FLOE_USERNS_BASE', () => {
    lease();
    let err: unknown;
    try {
      lease(true);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toMatch(/leased by another agent.*FLOE_USERNS_BASE/);
    expect((err as FailedPreconditionError).details).toEqual({ field: 'FLOE_USERNS_BASE' });
  });

  it('hands a released block out again', () => {
    const a = lease();
    a.release();
    held.splice(held.indexOf(a), 1);
    expect(lease().settings.base).toBe(1 << 30);
  });

  it('frees the block of a holder killed with -9', async () => {
    // util-linux flock(1) takes the same kind of lock on the same file, as another agent would;
    // -o keeps it out of its child, so killing flock(1) is killing the holder.
    const file = path.join(dir, `${1 << 30}.lock`);
    const child = spawn('flock', ['-n', '-o', file, 'sleep', '60'], { stdio: 'ignore', detached: true });
    children.push(child);
    for (let i = 0; i < 200; i++) {
      try {
        if (readFileSync('/proc/locks', 'utf8').includes(`:${statSync(file).ino} `)) break;
      } catch {}
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(lease().settings.base).toBe((1 << 30) + span);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(lease().settings.base).toBe(1 << 30);
  });

  it('says so when no block is left below the top of the id space', () => {
    const top = { base: 2 ** 32 - 1 - 2 * 65536, size: 65536, count: 2 }; // exactly one block fits
    lease(false, top);
    expect(() => lease(false, top)).toThrow(/every block of 131072 host ids .* FLOE_USERNS_COUNT/);
  });
});
