import { SyscallError } from '@floe/contracts';
import { NativeSyscalls } from './sys/ffi.js';
import type { Syscalls } from './sys/syscalls.js';

const MS_RDONLY = 0x1;
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_REMOUNT = 0x20;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_SHARED = 1 << 20;
const MNT_DETACH = 0x2;
const MOUNT_ATTR_RDONLY = 0x1n;
const MOUNT_ATTR_NOSUID = 0x2n;
const MOUNT_ATTR_NODEV = 0x4n;
const EINVAL = 22;
const ENOENT = 2;

/**
 * Host-side mounts for the node-agent, in the agent's own mount namespace: a shared mount
 * point whose later mounts propagate into containers that bound it `rslave`, and read-only
 * binds onto it. mount(2) affects the whole namespace, not a thread, so this is safe to
 * call from Node's main thread.
 */
export class HostMountsFfi {
  constructor(private readonly sys: Syscalls = new NativeSyscalls()) {}

  /** Bind `dir` onto itself and mark it shared: a peer group that containers can follow. */
  makeSharedPoint(dir: string): void {
    this.sys.mount(dir, dir, null, MS_BIND, null);
    this.sys.mount(null, dir, null, MS_SHARED, null);
  }

  /** A read-only, nosuid, nodev bind of `src` onto `dst` (two steps: the kernel ignores MS_RDONLY on the first). */
  bindReadonly(src: string, dst: string): void {
    this.sys.mount(src, dst, null, MS_BIND | MS_REC, null);
    try {
      this.sys.mount(null, dst, null, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, null);
    } catch (err) {
      this.detach(dst);
      throw err;
    }
  }

  /** A nosuid, nodev tmpfs of at most `sizeBytes` at `dir` (pages are charged to the writer's cgroup). */
  tmpfs(dir: string, sizeBytes: number): void {
    this.sys.mount('tmpfs', dir, 'tmpfs', MS_NOSUID | MS_NODEV, `size=${sizeBytes},mode=0755`);
  }

  /**
   * A read-only overlay of `lowers` (uppermost first) at `dst`, with no upper dir: a function's
   * code layer over its dependencies layer, seen as one tree.
   */
  overlayReadonly(lowers: string[], dst: string): void {
    // The kernel splits lowerdir on these; a layer path never has them, but say so if one does.
    if (lowers.some((l) => /[:,\\]/.test(l)))
      throw new SyscallError('mount', EINVAL, dst, 'overlay lower dir');
    this.sys.mount(
      'overlay',
      dst,
      'overlay',
      MS_RDONLY | MS_NOSUID | MS_NODEV,
      `lowerdir=${lowers.join(':')}`,
    );
  }

  /**
   * An fd holding a user namespace whose ids map as `maps` ("inside host size" lines, uid and
   * gid alike): the mapping an idmapped mount translates owners through. Close it when done.
   */
  userNamespace(maps: Array<{ inside: number; host: number; size: number }>): number {
    const text = maps.map((m) => `${m.inside} ${m.host} ${m.size}\n`).join('');
    return this.sys.usernsFd(text, text);
  }

  /**
   * A read-only, nosuid, nodev view of `src` at `dst` whose owners are translated through
   * `usernsFd`'s mapping: no file is copied or chowned, only the mount differs.
   */
  bindIdmapped(src: string, dst: string, usernsFd: number): void {
    this.sys.mountIdmapped(src, dst, usernsFd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
  }

  /** Lazily detaches everything stacked at `path`; a path with nothing mounted is fine. */
  detach(path: string): void {
    for (let i = 0; i < 8; i++) {
      try {
        this.sys.umount2(path, MNT_DETACH);
      } catch (err) {
        if (err instanceof SyscallError && (err.errno === EINVAL || err.errno === ENOENT)) return;
        throw err;
      }
    }
  }
}
