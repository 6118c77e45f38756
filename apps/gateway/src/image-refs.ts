import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Which uploaded tar holds which image ref, persisted as `<uploads>/refs.json` so a deploy
 * after a gateway restart still finds the archive. Writes go to a temporary file and are
 * renamed into place, so a crash never leaves a half-written index.
 */
export class ImageRefs {
  private readonly file: string;
  private readonly refs: Map<string, string>;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly uploadsDir: string) {
    this.file = path.join(uploadsDir, 'refs.json');
    this.refs = new Map(Object.entries(readJson(this.file)));
  }

  archiveOf(ref: string): string | undefined {
    return this.refs.get(ref);
  }

  /** Records `ref` → `archive`; resolves once the index is on disk. */
  set(ref: string, archive: string): Promise<void> {
    this.refs.set(ref, archive);
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

function readJson(file: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}
