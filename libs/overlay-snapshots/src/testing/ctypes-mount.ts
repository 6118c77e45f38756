import { execFileSync } from 'node:child_process';
import type { Mount } from '@floe/contracts';

// mount(2)/umount2(2) straight from a loop in one python process, so the figure is the
// kernel's cost without a process spawn per mount (what the runtime's FFI mounter will pay).
const PY = `
import ctypes, json, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
mounts, rootfs, n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
out = []
for _ in range(n):
    t0 = time.perf_counter()
    done = []
    for m in mounts:
        opts = []
        for o in m['options']:
            if o.startswith('X-floe.mkdir='): os.makedirs(o[len('X-floe.mkdir='):], 0o755, exist_ok=True)
            else: opts.append(o)
        tgt = m.get('target') or rootfs
        if libc.mount(m['source'].encode(), tgt.encode(), m['type'].encode(), 0, ','.join(opts).encode()) != 0:
            sys.exit('mount %s: %s' % (tgt, os.strerror(ctypes.get_errno())))
        done.append(tgt)
    for t in reversed(done):
        if libc.umount2(t.encode(), 0) != 0: sys.exit('umount %s: %s' % (t, os.strerror(ctypes.get_errno())))
    out.append((time.perf_counter() - t0) * 1000)
print(json.dumps(out))
`;

/** Test/bench support: `n` mount+umount cycles of `mounts` (tmpfs/overlay only), in ms each. */
export function kernelMountCycles(mounts: readonly Mount[], rootfs: string, n: number): number[] {
  return JSON.parse(
    execFileSync('/usr/bin/python3', ['-c', PY, JSON.stringify(mounts), rootfs, String(n)], {
      encoding: 'utf8',
    }),
  );
}
