import type { AgentImage, AgentPullRequest, LayerProgress, Mount } from '@floe/contracts';

/** What the launcher needs of the layer store (backed by libs/overlay-snapshots). */
export interface RootfsProvider {
  /** Mounts for a new container rootfs of `imageRef`, with a size-capped writable layer. */
  rootfs(containerId: string, imageRef: string, sizeLimitBytes: number): Promise<Mount[]>;
  /** Host path of a read-only code tree for an archive digest; `fetch` gives the archive when absent. */
  codeLayer(digest: string, fetch: () => Promise<Buffer>): Promise<string>;
  /** Unless present: imports a docker-save/OCI tar under `ref`, or pulls `ref` with `namespace`'s registry credentials. */
  ensureImage(ref: string, archivePath?: string, namespace?: string): Promise<void>;
  imageConfig(ref: string): Promise<ImageRunConfig | undefined>;
  /**
   * A small regular file of the image (`etc/passwd`, say) read from its layers on the host,
   * top layer first; undefined when absent, a symlink, or whited out.
   */
  imageFile?(ref: string, relPath: string): Promise<string | undefined>;
  /** Forgets the container's writable layer and lease. */
  release(containerId: string): Promise<void>;
  /** Images present and pulls in progress, for the agent's heartbeat. */
  images?(): AgentImage[];
  /** `floe images pull`: pulls the pinned ref with per-layer progress; absent without a registry client. */
  pullImage?(
    req: AgentPullRequest,
    watch: (p: LayerProgress) => void,
  ): Promise<{ digest: string; size: number; layers: number }>;
}

export interface ImageRunConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
}

/**
 * Host-side mounts the agent makes for an instance: a shared mount point whose later
 * mounts propagate into the running container (that is how a frozen stemcell gets a
 * function's code without restarting), and read-only binds onto it.
 */
export interface HostMounts {
  /** Makes `dir` a mount point of its own in a shared peer group. */
  makeSharedPoint(dir: string): void;
  bindReadonly(src: string, dst: string): void;
  /** A size-capped tmpfs at `dir`: a dependencies build's only writable host dir. */
  tmpfs(dir: string, sizeBytes: number): void;
  /** A read-only overlay of `lowers` (uppermost first) at `dst`: code over dependencies. */
  overlayReadonly(lowers: string[], dst: string): void;
  /** Lazily detaches whatever is mounted at `path` (MNT_DETACH); no error if nothing is. */
  detach(path: string): void;
}

/** Where the agent gets secrets and code for a version. */
export interface FunctionSources {
  code(digest: string): Promise<Buffer>;
  /** The lock files a dependencies layer is built from (any agent may build it on demand). */
  deps?(key: string): Promise<Record<string, string>>;
  secrets(namespace: string, names: string[]): Promise<Record<string, string>>;
}
