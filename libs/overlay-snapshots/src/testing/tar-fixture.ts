import { execFileSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { type TarWriteEntry, TarWriter } from '../tar-writer.js';

/** Test support: an in-memory tar of `entries` (names are written unchecked, for hostile fixtures). */
export async function tarBuffer(entries: TarWriteEntry[]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const w = new TarWriter(out);
  for (const e of entries) await w.add(e);
  await w.finish();
  return Buffer.concat(chunks);
}

export async function* chunksOf(buf: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** trusted.* xattrs of a path, read with the same interpreter the default FsOps uses. */
export function getXattr(p: string, name: string): string | undefined {
  const out = execFileSync('/usr/bin/python3', [
    '-c',
    'import os,sys\ntry: print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())\nexcept OSError: print("")',
    p,
    name,
  ])
    .toString()
    .trim();
  return out === '' ? undefined : Buffer.from(out, 'hex').toString();
}
