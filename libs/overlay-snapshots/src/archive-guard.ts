import { InvalidArgumentError } from '@floe/contracts';

/** Ceilings applied to every archive this lib unpacks (images, layers, code). */
export interface ArchiveLimits {
  /** Members in one archive (headers, not bytes). */
  maxEntries: number;
  /** Sum of regular-file bytes after decompression. */
  maxTotalBytes: number;
  /** Decompressed / compressed bytes, checked as data flows (zip bombs). */
  maxRatio: number;
}

export const DEFAULT_LIMITS: ArchiveLimits = {
  maxEntries: 250_000,
  maxTotalBytes: 8 * 1024 ** 3,
  maxRatio: 200,
};

/** Below this many decompressed bytes the ratio is not judged (tiny sparse files compress 1000:1). */
const RATIO_GRACE_BYTES = 4 << 20;

export function archiveError(entry: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError('archive', `entry '${entry}': ${message}`);
}

/**
 * Normalize a member path to a relative path inside the layer root ('' is the root itself).
 * Rejects absolute paths, `..` components, NUL bytes: the extractor never has to resolve
 * anything that could leave the root.
 */
export function safeEntryPath(name: string): string {
  if (name.includes('\0')) throw archiveError(name, 'path contains a NUL byte');
  if (name.startsWith('/')) throw archiveError(name, 'absolute path');
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw archiveError(name, "path contains '..' and could escape the layer root");
    parts.push(p);
  }
  return parts.join('/');
}

/** Counts entries and bytes of one archive against its limits. */
export class ArchiveGuard {
  entries = 0;
  totalBytes = 0;

  constructor(
    private readonly limits: ArchiveLimits,
    /** Compressed bytes consumed so far, or undefined for an uncompressed stream. */
    private readonly compressedBytes?: () => number,
  ) {}

  entry(name: string, size: number): void {
    if (++this.entries > this.limits.maxEntries) {
      throw archiveError(name, `archive has more than ${this.limits.maxEntries} entries`);
    }
    if (this.totalBytes + size > this.limits.maxTotalBytes) {
      throw archiveError(name, `archive expands past the ${this.limits.maxTotalBytes}-byte limit`);
    }
    this.totalBytes += size;
  }

  /** Called as decompressed bytes flow; `produced` is the running total. */
  ratio(name: string, produced: number): void {
    if (!this.compressedBytes || produced < RATIO_GRACE_BYTES) return;
    const consumed = Math.max(1, this.compressedBytes());
    if (produced / consumed > this.limits.maxRatio) {
      throw archiveError(name, `compression ratio exceeds ${this.limits.maxRatio}:1`);
    }
  }
}
