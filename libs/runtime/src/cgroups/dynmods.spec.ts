import { describe, expect, it } from 'vitest';
import type { Syscalls } from '../sys/syscalls.js';
import { favorDynmods } from './dynmods.js';

describe('favorDynmods', () => {
  it('does nothing on a cgroup2-only host, where attaches go through CLONE_INTO_CGROUP', () => {
    const calls: string[] = [];
    const sys = new Proxy({} as Syscalls, { get: (_t, name) => () => calls.push(String(name)) });
    const out = favorDynmods(
      sys,
      { mode: 'v2', unifiedPath: '/sys/fs/cgroup', v2Controllers: ['memory'], v1Mounts: {} },
      '/nonexistent',
    );
    expect(out.state).toBe('not-needed');
    expect(calls).toEqual([]);
  });
});
