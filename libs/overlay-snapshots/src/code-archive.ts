import fs from 'node:fs';
import { PassThrough } from 'node:stream';
import { InvalidArgumentError } from '@floe/contracts';
import { ArchiveGuard, type ArchiveLimits } from './archive-guard.js';
import type { LayerInfo, LayerStore } from './layer-store.js';
import { TarWriter } from './tar-writer.js';
import { ZipReader } from './zip-reader.js';

export type CodeArchiveFormat = 'zip' | 'tar' | 'tar.gz';

/** A function's code as a layer: files at the layer root, root-owned, world-readable. */
export interface CodeLayer extends LayerInfo {
  /** Directory to bind-mount read-only (e.g. at /code). */
  path: string;
}

/** Defaults for user-uploaded code: smaller than image limits. */
export const CODE_LIMITS: ArchiveLimits = { maxEntries: 50_000, maxTotalBytes: 512 << 20, maxRatio: 100 };

export function detectFormat(file: string): CodeArchiveFormat {
  const head = Buffer.alloc(512);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, 512, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5)) return 'zip';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
  if (head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  throw new InvalidArgumentError('archive', 'not a zip, tar or tar.gz archive');
}

/**
 * Import a function's code archive (zip, tar, tar.gz) as a layer. The same safety rules as
 * image layers apply (no escaping paths, no writes through symlinks, size/entry/ratio
 * limits), checked before anything is visible. Zips are converted to a deterministic tar
 * stream on the fly, so a code layer's diffID is a real tar diffID like any other layer's.
 */
export async function importCodeArchive(
  layers: LayerStore,
  file: string,
  format: CodeArchiveFormat = detectFormat(file),
  opts: { limits?: ArchiveLimits; durable?: boolean } = {},
): Promise<CodeLayer> {
  const limits = opts.limits ?? CODE_LIMITS;
  const unpack = { ownership: 'root' as const, limits };
  let info: LayerInfo;
  if (format === 'zip') {
    const zip = await ZipReader.open(file, limits);
    try {
      const tar = new PassThrough({ highWaterMark: 1 << 20 });
      const produce = (async () => {
        const guard = new ArchiveGuard(limits);
        const w = new TarWriter(tar);
        for (const e of zip.entries) {
          guard.entry(e.name, e.size);
          const base = { name: e.name, mtime: e.mtime };
          if (e.dir) await w.add({ ...base, type: 'dir', mode: e.mode ?? 0o755 });
          else if (e.symlink) {
            const target = (await zip.readAll(e, limits.maxRatio)).toString('utf8');
            await w.add({ ...base, type: 'symlink', linkname: target });
          } else {
            await w.add({
              ...base,
              type: 'file',
              mode: e.mode ?? 0o644,
              size: e.size,
              bodyStream: zip.body(e, limits.maxRatio),
            });
          }
        }
        await w.finish();
      })().catch((err) => {
        tar.destroy(err); // wakes the consumer with the producer's error
        throw err;
      });
      const consume = layers.stage(tar, unpack).catch((err) => {
        tar.destroy(); // unblocks a producer waiting on 'drain'
        throw err;
      });
      const [, staged] = await Promise.allSettled([produce, consume]).then(([p, c]) => {
        if (c.status === 'rejected') throw c.reason;
        if (p.status === 'rejected') {
          layers.discard(c.value);
          throw p.reason;
        }
        return [p.value, c.value] as const;
      });
      info = layers.commitStaged(staged, { durable: opts.durable });
    } finally {
      await zip.close();
    }
  } else {
    info = await layers.importTar(fs.createReadStream(file, { highWaterMark: 1 << 20 }), undefined, {
      ...unpack,
      durable: opts.durable,
    });
  }
  return { ...info, path: layers.path(info.diffID) };
}
