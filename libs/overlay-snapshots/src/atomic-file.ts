import { randomBytes } from 'node:crypto';
import fs from 'node:fs';

/**
 * Replace `file` atomically: write a sibling temp file, fsync it, rename over. Readers see
 * the old or the new document, never a torn one, even after kill -9 or power loss.
 */
export function writeFileAtomic(file: string, data: string | Buffer, opts: { fsync?: boolean } = {}): void {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (opts.fsync !== false) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
