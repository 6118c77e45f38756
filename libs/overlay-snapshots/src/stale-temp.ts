import fs from 'node:fs';

/** Temp entries are named `<prefix>-<pid>-<rand>` so a sweep can tell whose they are. */
export function tempName(prefix: string, rand: string): string {
  return `${prefix}-${process.pid}-${rand}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Delete what crashed processes left in a staging dir. Entries of a live process (another
 * importer on the same store, or this one) are left alone; names without a pid are foreign
 * and go.
 */
export function sweepStaleTemp(dir: string): string[] {
  const removed: string[] = [];
  for (const n of fs.readdirSync(dir)) {
    const pid = Number(/^[a-z]+-(\d+)-/.exec(n)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
    fs.rmSync(`${dir}/${n}`, { recursive: true, force: true });
    removed.push(n);
  }
  return removed;
}
