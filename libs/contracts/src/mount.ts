/**
 * A mount to perform, in containerd's shape: the snapshotter returns these and never mounts;
 * the runtime performs them inside the container's own mount namespace.
 *
 * Options are mount(8)-style strings (`ro`, `nosuid`, `lowerdir=...`). The runtime also
 * understands `X-floe.mkdir=<abs path>`: create that directory (mode 0755, with parents)
 * right before this mount. It is how an overlay gets its upper/work dirs inside a tmpfs
 * that the previous mount in the list created.
 */
export interface Mount {
  type: 'overlay' | 'bind' | 'tmpfs' | string;
  source: string;
  /** Absolute target. Absent means "the rootfs itself" when given as a rootfs mount. */
  target?: string;
  options: string[];
}
