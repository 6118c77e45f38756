import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { FailedPreconditionError } from '@floe/contracts';

/** OCI layer whiteout markers (image-spec layer.md) and their overlayfs equivalents. */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export type WhiteoutKind = { kind: 'opaque' } | { kind: 'whiteout'; name: string } | { kind: 'none' };

export function classifyWhiteout(basename: string): WhiteoutKind {
  if (basename === OPAQUE_MARKER) return { kind: 'opaque' };
  if (basename.startsWith(WHITEOUT_PREFIX))
    return { kind: 'whiteout', name: basename.slice(WHITEOUT_PREFIX.length) };
  return { kind: 'none' };
}

/** A filesystem operation Node cannot do itself (mknod, setxattr). */
export type FsOp =
  | {
      op: 'mknod';
      path: string;
      kind: 'char' | 'block' | 'fifo';
      mode: number;
      major: number;
      minor: number;
      uid: number;
      gid: number;
      mtime: number;
    }
  | { op: 'setxattr'; path: string; name: string; value: Buffer };

/**
 * Device nodes and xattrs, applied in order. Never follows a symlink at `path`. The default
 * implementation batches one helper process per call (a layer); the node-agent can pass an
 * implementation backed by the runtime's FFI syscalls instead.
 */
export interface FsOps {
  apply(ops: readonly FsOp[]): Promise<void>;
}

// One python3 per batch: Node has no mknod/setxattr and this lib may not load native code.
// Debian's interpreter, not whatever python3 is first on PATH (pyenv shims break under sudo).
const PY = `
import json, os, stat, sys
S = {'char': stat.S_IFCHR, 'block': stat.S_IFBLK, 'fifo': stat.S_IFIFO}
for o in json.load(sys.stdin):
    p = o['path']
    try:
        if o['op'] == 'mknod':
            os.mknod(p, S[o['kind']] | o['mode'], os.makedev(o['major'], o['minor']))
            os.chown(p, o['uid'], o['gid'], follow_symlinks=False)
            os.chmod(p, o['mode'])
            os.utime(p, (o['mtime'], o['mtime']), follow_symlinks=False)
        else:
            os.setxattr(p, o['name'], bytes.fromhex(o['value']), follow_symlinks=False)
    except OSError as e:
        sys.stderr.write('%s %s: %s\\n' % (o['op'], p, e))
        sys.exit(1)
`;

export class PythonFsOps implements FsOps {
  constructor(private readonly python = '/usr/bin/python3') {}

  async apply(ops: readonly FsOp[]): Promise<void> {
    if (ops.length === 0) return;
    if (!existsSync(this.python)) {
      throw new FailedPreconditionError(`apply whiteouts/xattrs: ${this.python} not found (install python3)`);
    }
    const payload = JSON.stringify(
      ops.map((o) => (o.op === 'setxattr' ? { ...o, value: o.value.toString('hex') } : o)),
    );
    await new Promise<void>((resolve, reject) => {
      const child = spawn(this.python, ['-S', '-c', PY], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
      });
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0
          ? resolve()
          : reject(new FailedPreconditionError(`apply fs ops: ${err.trim() || `exit ${code}`}`)),
      );
      child.stdin.end(payload);
    });
  }
}
