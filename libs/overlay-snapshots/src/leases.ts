import { InvalidArgumentError, NotFoundError } from '@floe/contracts';
import { readJson, writeFileAtomic } from './atomic-file.js';

/** A named hold on content: GC never collects what a lease names. */
export interface Lease {
  id: string;
  /** Layer diffIDs and/or image manifest digests (which hold their config and layers). */
  digests: string[];
  created: string;
}

/**
 * Persisted leases (`leases.json`, atomic replace). The node-agent leases the layers of every
 * deployed function version (`fn/<name>/<version>`) and of every live container
 * (`container/<id>`), and releases them when the version is retired or the container removed.
 */
export class LeaseManager {
  private constructor(private readonly file: string) {}

  static async open(root: string): Promise<LeaseManager> {
    return new LeaseManager(`${root}/leases.json`);
  }

  private load(): Record<string, Lease> {
    return readJson<Record<string, Lease>>(this.file) ?? {};
  }

  /** Create or replace lease `id`. */
  async lease(id: string, digests: string[]): Promise<Lease> {
    if (!id) throw new InvalidArgumentError('lease.id', 'must not be empty');
    for (const d of digests) {
      if (!/^sha256:[a-f0-9]{64}$/.test(d))
        throw new InvalidArgumentError('lease.digests', `'${d}' is not a digest`);
    }
    const all = this.load();
    const l: Lease = {
      id,
      digests: [...new Set(digests)],
      created: all[id]?.created ?? new Date().toISOString(),
    };
    all[id] = l;
    writeFileAtomic(this.file, JSON.stringify(all));
    return l;
  }

  async releaseLease(id: string): Promise<void> {
    const all = this.load();
    if (!all[id]) throw new NotFoundError(`release lease ${id}: not found`);
    delete all[id];
    writeFileAtomic(this.file, JSON.stringify(all));
  }

  async get(id: string): Promise<Lease | undefined> {
    return this.load()[id];
  }

  async list(): Promise<Lease[]> {
    return Object.values(this.load());
  }

  /** Every digest held by any lease. */
  async held(): Promise<Set<string>> {
    return new Set(Object.values(this.load()).flatMap((l) => l.digests));
  }
}
