import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCgroups } from './detect.js';
import type { CgroupInfo } from './types.js';

/** /proc/self/mountinfo recorded on each layout (see mountinfo/README.md for where each is from). */
const sample = (name: string) => fs.readFileSync(path.join(import.meta.dirname, 'mountinfo', name), 'utf8');

const V2_ALL = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];
const HERE_V1 = {
  cpu: '/sys/fs/cgroup/cpu',
  cpuacct: '/sys/fs/cgroup/cpuacct',
  cpuset: '/sys/fs/cgroup/cpuset',
  memory: '/sys/fs/cgroup/memory',
  devices: '/sys/fs/cgroup/devices',
  freezer: '/sys/fs/cgroup/freezer',
  blkio: '/sys/fs/cgroup/blkio',
  pids: '/sys/fs/cgroup/pids',
};

const cases: Array<{ file: string; controllers: string[]; want: CgroupInfo }> = [
  {
    file: 'v1-centos7.txt',
    controllers: [],
    want: {
      mode: 'v1',
      unifiedPath: undefined,
      v2Controllers: [],
      v1Mounts: {
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
        memory: '/sys/fs/cgroup/memory',
        net_cls: '/sys/fs/cgroup/net_cls,net_prio',
        net_prio: '/sys/fs/cgroup/net_cls,net_prio',
        freezer: '/sys/fs/cgroup/freezer',
        pids: '/sys/fs/cgroup/pids',
        cpuset: '/sys/fs/cgroup/cpuset',
        blkio: '/sys/fs/cgroup/blkio',
        devices: '/sys/fs/cgroup/devices',
        hugetlb: '/sys/fs/cgroup/hugetlb',
        perf_event: '/sys/fs/cgroup/perf_event',
      },
    },
  },
  {
    file: 'v2-debian12.txt',
    controllers: V2_ALL,
    want: { mode: 'v2', unifiedPath: '/sys/fs/cgroup', v2Controllers: V2_ALL, v1Mounts: {} },
  },
  {
    file: 'hybrid-ubuntu2004.txt',
    controllers: [],
    want: {
      mode: 'hybrid',
      unifiedPath: '/sys/fs/cgroup/unified',
      v2Controllers: [],
      v1Mounts: {
        net_cls: '/sys/fs/cgroup/net_cls,net_prio',
        net_prio: '/sys/fs/cgroup/net_cls,net_prio',
        memory: '/sys/fs/cgroup/memory',
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
        freezer: '/sys/fs/cgroup/freezer',
        pids: '/sys/fs/cgroup/pids',
        blkio: '/sys/fs/cgroup/blkio',
        cpuset: '/sys/fs/cgroup/cpuset',
        devices: '/sys/fs/cgroup/devices',
        hugetlb: '/sys/fs/cgroup/hugetlb',
        perf_event: '/sys/fs/cgroup/perf_event',
        rdma: '/sys/fs/cgroup/rdma',
      },
    },
  },
  {
    file: 'hybrid-this-host.txt',
    controllers: ['hugetlb'],
    want: {
      mode: 'hybrid',
      unifiedPath: '/sys/fs/cgroup/unified',
      v2Controllers: ['hugetlb'],
      v1Mounts: HERE_V1,
    },
  },
  {
    // Inside `unshare -C` from a child cgroup: mounts from outside the namespace root show `/..`.
    file: 'hybrid-cgroupns-this-host.txt',
    controllers: ['hugetlb'],
    want: {
      mode: 'hybrid',
      unifiedPath: '/sys/fs/cgroup/unified',
      v2Controllers: ['hugetlb'],
      v1Mounts: HERE_V1,
    },
  },
  {
    // A container with its own cgroup namespace on a pure v2 host: read-only, source "cgroup".
    file: 'v2-cgroupns-docker.txt',
    controllers: V2_ALL,
    want: { mode: 'v2', unifiedPath: '/sys/fs/cgroup', v2Controllers: V2_ALL, v1Mounts: {} },
  },
];

describe(detectCgroups.name, () => {
  it.each(cases)('reads $file as $want.mode', ({ file, controllers, want }) => {
    const asked: string[] = [];
    const got = detectCgroups(sample(file), (p) => {
      asked.push(p);
      return controllers;
    });
    expect(got).toEqual(want);
    // Controllers are read from the unified mount it found, and only from there.
    expect(asked).toEqual(want.unifiedPath ? [want.unifiedPath] : []);
  });

  it('names no mount option (xattr, clone_children, name=…, release_agent=…) as a v1 controller', () => {
    for (const { file } of cases) {
      const keys = Object.keys(detectCgroups(sample(file), () => []).v1Mounts);
      for (const k of keys) expect(k).toMatch(/^[a-z_]+$/);
      expect(keys).not.toContain('xattr');
      expect(keys).not.toContain('clone_children');
      expect(keys).not.toContain('name');
    }
  });

  it('prefers a cgroup2 mount at /sys/fs/cgroup over one mounted elsewhere first', () => {
    const extra = '99 26 0:26 / /run/probe rw,relatime shared:40 - cgroup2 cgroup2 rw\n';
    const got = detectCgroups(extra + sample('v2-debian12.txt'), () => V2_ALL);
    expect(got.unifiedPath).toBe('/sys/fs/cgroup');
    expect(got.mode).toBe('v2');
  });

  it('a v2 host that also mounts a named v1 hierarchy (name=systemd only) is still pure v2', () => {
    const named =
      '98 32 0:45 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,xattr,name=systemd\n';
    const got = detectCgroups(sample('v2-debian12.txt') + named, () => V2_ALL);
    expect(got.mode).toBe('v2');
    expect(got.v1Mounts).toEqual({});
  });
});
