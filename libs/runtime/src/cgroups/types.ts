/** Which cgroup layout the host has. */
export interface CgroupInfo {
  /** `v2`: pure unified; `hybrid`: v1 controllers plus a controller-less unified mount; `v1`: no unified. */
  mode: 'v2' | 'hybrid' | 'v1';
  /** Mount point of the unified hierarchy, if any. */
  unifiedPath?: string;
  /** Controllers available in the unified hierarchy (root cgroup.controllers). */
  v2Controllers: string[];
  /** v1 controller name to mount point. */
  v1Mounts: Record<string, string>;
}

export interface CgroupResources {
  memoryLimit?: number;
  memoryReservation?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpuShares?: number;
  pidsLimit?: number;
}

/** Resource usage of one container's cgroup. */
export interface CgroupStats {
  memoryBytes: number;
  memoryPeakBytes: number;
  cpuUsageUsec: number;
  nrThrottled: number;
  throttledUsec: number;
  oomKills: number;
}

/**
 * One cgroup backend (crun's vtable): owns the container's resource cgroup dirs in its
 * hierarchy. Lifecycle: `create` (mkdir, idempotent) → `apply` → attach pids → `destroy`
 * (rmdir; the caller has killed every process first).
 */
export interface CgroupBackend {
  readonly version: 'v1' | 'v2';
  create(): void;
  apply(r: CgroupResources): void;
  /** cgroup.procs files a new pid must be written into (v1: one per hierarchy). */
  procsFiles(): string[];
  stats(): CgroupStats;
  oomKills(): number;
  setMemoryLimit(bytes: number | 'max'): void;
  pids(): number[];
  destroy(): void;
}

/**
 * The freezer of one container. `freeze()` resolves only once the kernel reports the whole
 * group frozen. Holds fds open for the container's lifetime: `close()` on delete.
 */
export interface Freezer {
  readonly version: 'v1' | 'v2';
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** Thawing is synchronous in the kernel (tasks are woken before the write returns). */
  thawSync(): void;
  isFrozen(): boolean;
  close(): void;
}
