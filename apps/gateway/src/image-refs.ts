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

  /** The archive of `ref`, also when it was uploaded under another spelling of the same name. */
  archiveOf(ref: string): string | undefined {
    return this.get(ref)?.archive;
  }

  all(): Map<string, UploadedImage> {
    return new Map(this.refs);
  }

  get(ref: string): UploadedImage | undefined {
    const exact = this.refs.get(ref);
    if (exact) return exact;
    const want = normalizeRef(ref);
    for (const [k, v] of this.refs) if (normalizeRef(k) === want) return v;
    return undefined;
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

/**
 * Docker's normalization: `alpine`, `alpine:latest`, `docker.io/library/alpine:latest` name one
 * image (faas-cli users write all three).
 */
export function normalizeRef(ref: string): string {
  let r = ref.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  r = r.replace(/^library\//, '');
  const lastSlash = r.lastIndexOf('/');
  if (!r.includes('@') && !r.slice(lastSlash + 1).includes(':')) r += ':latest';
  return r;
}

function readJson(file: string): Record<string, string | UploadedImage> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string | UploadedImage>;
  } catch {
    return {};
  }
}
