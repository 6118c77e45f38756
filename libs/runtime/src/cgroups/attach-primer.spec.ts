import { describe, expect, it } from 'vitest';
import { ownV1ProcsFile } from './attach-primer.js';
import type { CgroupInfo } from './types.js';

const hybrid: CgroupInfo = {
  mode: 'hybrid',
  unifiedPath: '/sys/fs/cgroup/unified',
  v2Controllers: [],
  v1Mounts: {
    cpu: '/sys/fs/cgroup/cpu,cpuacct',
    cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
    pids: '/sys/fs/cgroup/pids',
  },
};

describe('ownV1ProcsFile', () => {
  it("names this process's own cgroup in the first mounted v1 hierarchy, joined controllers included", () => {
    const self = '9:name=systemd:/\n3:cpu,cpuacct:/agents/a1\n2:pids:/x\n0::/agents/a1\n';
    expect(ownV1ProcsFile(hybrid, self)).toBe('/sys/fs/cgroup/cpu,cpuacct/agents/a1/cgroup.procs');
  });

  it('skips hierarchies that are not mounted and the unified line', () => {
    expect(ownV1ProcsFile(hybrid, '0::/\n5:memory:/m\n2:pids:/\n')).toBe('/sys/fs/cgroup/pids/cgroup.procs');
  });

  it('is undefined when only the unified hierarchy lists the process (pure v2)', () => {
    expect(ownV1ProcsFile({ ...hybrid, mode: 'v2', v1Mounts: {} }, '0::/user.slice\n')).toBeUndefined();
  });
});
