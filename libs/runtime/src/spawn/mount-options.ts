/** mount(2) flags. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  DIRSYNC: 128,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;
export const MNT_DETACH = 2;

const SET: Record<string, number> = {
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  sync: MS.SYNCHRONOUS,
  dirsync: MS.DIRSYNC,
  remount: MS.REMOUNT,
  bind: MS.BIND,
  rbind: MS.BIND | MS.REC,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
};
const CLEAR = new Set(['rw', 'suid', 'dev', 'exec', 'async', 'atime', 'diratime', 'defaults']);
export const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

export interface ParsedMountOptions {
  flags: number;
  /** Propagation change applied with a second mount(2) after the mount itself. */
  propagation: number;
  /** Filesystem-specific data (`lowerdir=...`, `mode=755`), comma-joined. */
  data: string;
  /** `X-floe.mkdir=<path>` values: mkdir -p right before the mount. */
  mkdirs: string[];
}

/** Splits mount(8)-style options into flags, propagation, data and Floe extensions. */
export function parseMountOptions(options: readonly string[]): ParsedMountOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  const mkdirs: string[] = [];
  for (const o of options) {
    if (o in SET) flags |= SET[o]!;
    else if (CLEAR.has(o)) continue;
    else if (o in PROPAGATION) propagation = PROPAGATION[o]!;
    else if (o.startsWith('X-floe.mkdir=')) mkdirs.push(o.slice('X-floe.mkdir='.length));
    else if (o.startsWith('X-')) continue;
    else data.push(o);
  }
  return { flags, propagation, data: data.join(','), mkdirs };
}
