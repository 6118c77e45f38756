import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { Mount } from '@floe/contracts';

/**
 * Test support only (never imported by the lib, which returns mounts and never performs
 * them): performs a `Mount[]` with mount(8) the way the runtime does with mount(2),
 * honouring `X-floe.mkdir=`. Returns an idempotent unmount that undoes in reverse.
 */
export function performMounts(mounts: readonly Mount[], rootfs: string): () => void {
  const done: string[] = [];
  const undo = () => {
    while (done.length) {
      const t = done.pop()!;
      try {
        execFileSync('umount', [t], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', t], { stdio: 'pipe' });
      }
    }
  };
  try {
    for (const m of mounts) {
      const target = m.target ?? rootfs;
      const opts: string[] = [];
      for (const o of m.options) {
        if (o.startsWith('X-floe.mkdir='))
          fs.mkdirSync(o.slice('X-floe.mkdir='.length), { recursive: true, mode: 0o755 });
        else opts.push(o);
      }
      if (m.type === 'bind') {
        execFileSync('mount', ['--rbind', m.source, target], { stdio: 'pipe' });
        done.push(target);
        if (opts.includes('ro')) execFileSync('mount', ['-o', 'remount,bind,ro', target], { stdio: 'pipe' });
      } else {
        execFileSync('mount', ['-t', m.type, '-o', opts.join(','), m.source, target], { stdio: 'pipe' });
        done.push(target);
      }
    }
  } catch (e) {
    undo();
    throw e;
  }
  return undo;
}

/** Whole-line `mount` table entries under a prefix: used by tests to assert nothing leaked. */
export function mountsUnder(prefix: string): string[] {
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(prefix));
}
