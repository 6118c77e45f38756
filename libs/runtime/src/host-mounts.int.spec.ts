import { closeSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SyscallError } from '@floe/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostMountsFfi } from './host-mounts.js';

describe('HostMountsFfi idmapped binds', () => {
  const mounts = new HostMountsFfi();
  let dir: string;
  let attached: string[];
  let fds: number[];
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'floe-idmap-'));
    attached = [];
    fds = [];
  });
  afterEach(() => {
    for (const p of attached) mounts.detach(p);
    for (const fd of fds) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows root-owned files as owned by the range, read-only, without touching the files', () => {
    const src = path.join(dir, 'layer');
    mkdirSync(src);
    writeFileSync(path.join(src, 'f'), 'x', { mode: 0o644 });
    const fd = mounts.userNamespace([{ inside: 0, host: 200_000, size: 65536 }]);
    fds.push(fd);
    const dst = path.join(dir, 'view');
    mkdirSync(dst);
    mounts.bindIdmapped(src, dst, fd);
    attached.push(dst);
    expect(statSync(path.join(dst, 'f')).uid).toBe(200_000);
    expect(statSync(path.join(dst, 'f')).gid).toBe(200_000);
    expect(statSync(path.join(src, 'f')).uid).toBe(0);
    expect(() => writeFileSync(path.join(dst, 'g'), 'y')).toThrow(/EROFS/);
  });

  it('names the syscall and path when the source is missing', () => {
    const fd = mounts.userNamespace([{ inside: 0, host: 200_000, size: 10 }]);
    fds.push(fd);
    const err = (() => {
      try {
        mounts.bindIdmapped(path.join(dir, 'missing'), dir, fd);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).syscall).toBe('open_tree');
    expect((err as SyscallError).message).toContain('missing');
  });
});
