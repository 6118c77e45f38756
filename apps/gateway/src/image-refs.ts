import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Where an uploaded ref lives: its tar on this host, and where it was pushed for every agent. */
export interface UploadedImage {
  archive: string;
  /** `registry/repo@sha256:...` when FLOE_REGISTRY is set. */
  pinned?: string;
}

/**
 * Which uploaded tar holds which image ref, persisted as `<uploads>/refs.json` so a deploy
 * after a gateway restart still finds the archive. Writes go to a temporary file and are
 * renamed into place, so a crash never leaves a half-written index.
 */
export class ImageRefs {
  private readonly file: string;
  private readonly refs: Map<string, UploadedImage>;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly uploadsDir: string) {
    this.file = path.join(uploadsDir, 'refs.json');
    // Older indexes map ref → archive path.
    this.refs = new Map(
      Object.entries(readJson(this.file)).map(([k, v]) => [k, typeof v === 'string' ? { archive: v } : v]),
    );
  }

  archiveOf(ref: string): string | undefined {
    return this.refs.get(ref)?.archive;
  }

  all(): Map<string, UploadedImage> {
    return new Map(this.refs);
  }

  get(ref: string): UploadedImage | undefined {
    return this.refs.get(ref);
  }

  /** Records `ref` → its archive (and pin); resolves once the index is on disk. */
  set(ref: string, archive: string, pinned?: string): Promise<void> {
    this.refs.set(ref, pinned ? { archive, pinned } : { archive });
    const snapshot = JSON.stringify(Object.fromEntries(this.refs), null, 2);
    // Serialized, so two uploads finishing together can't interleave their renames.
    this.writing = this.writing.then(async () => {
      await mkdir(this.uploadsDir, { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, snapshot);
      await rename(tmp, this.file);
    });
    return this.writing;
  }
}

function readJson(file: string): Record<string, string | UploadedImage> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string | UploadedImage>;
  } catch {
    return {};
  }
}
