import type { Mount } from '@floe/contracts';

/** The subset of the OCI runtime spec config.json that Floe understands. */
export interface OciConfig {
  ociVersion?: string;
  root: { path: string; readonly?: boolean };
  mounts?: OciMount[];
  hostname?: string;
  process: OciProcess;
  linux?: OciLinux;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciProcess {
  args: string[];
  env?: string[];
  cwd?: string;
  terminal?: boolean;
  user?: { uid: number; gid: number; additionalGids?: number[] };
  capabilities?: {
    bounding?: string[];
    effective?: string[];
    permitted?: string[];
    inheritable?: string[];
    ambient?: string[];
  };
  noNewPrivileges?: boolean;
  rlimits?: { type: string; soft: number; hard: number }[];
  oomScoreAdj?: number;
}

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface OciSeccomp {
  defaultAction: string;
  architectures?: string[];
  syscalls?: { names: string[]; action: string; errnoRet?: number }[];
}

export interface OciLinux {
  namespaces?: { type: NamespaceType; path?: string }[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  resources?: {
    memory?: { limit?: number; reservation?: number };
    cpu?: { quota?: number; period?: number; shares?: number };
    pids?: { limit?: number };
  };
  seccomp?: OciSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  cgroupsPath?: string;
  rootfsPropagation?: string;
}

/** Network of a container: own netns with lo only, a veth to a host bridge, or a given netns. */
export type NetworkMode = 'none' | 'bridge' | { netnsPath: string };

/** Floe extensions beyond OCI, given per create. */
export interface CreateOptions {
  /** Performed inside the container's mount namespace onto root.path, before pivot_root. */
  rootfsMounts?: Mount[];
  /** Host fds dup2'ed onto 0/1/2 of the container (default /dev/null). */
  stdio?: { stdin?: number; stdout?: number; stderr?: number };
  network?: NetworkMode;
  /**
   * Wait for start on a FIFO (runc's exec.fifo) instead of this process's pipe, so another
   * process (the CLI's `start`) can start the container. Path: `<stateDir>/runtime/<id>/exec.fifo`.
   */
  execFifo?: boolean;
}
