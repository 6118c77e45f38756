import { createHash } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, FailedPreconditionError, FloeError, type Mount } from '@floe/contracts';

/** Host id ranges the platform owns, `/etc/subuid`-style: `count` ranges of `size` ids from `base`. */
export interface UsernsSettings {
  base: number;
  size: number;
  count: number;
}

/** The default: 1024 ranges of 65536 ids from 2^30, far above any login user or distro subuid range. */
export const DEFAULT_USERNS: UsernsSettings = { base: 1 << 30, size: 65536, count: 1024 };

/** What of the host's mount API the user namespaces need (libs/runtime's HostMountsFfi). */
export interface IdmapMounts {
  userNamespace(maps: Array<{ inside: number; host: number; size: number }>): number;
  bindIdmapped(src: string, dst: string, usernsFd: number): void;
  detach(path: string): void;
}

/** One instance's id range: root inside is `hostBase` outside. */
export interface IdRange {
  slot: number;
  hostBase: number;
  size: number;
}

/**
 * Every instance gets a host id range of its own, so functions of different namespaces
 * (tenants) never share host ids, and a generic stemcell needs no tenant before it is
 * specialized. A range is leased for the instance's life and handed out again lowest first,
 * which keeps the set of idmapped layer mounts (one per range and layer, shared by every
 * later instance on that range) as small as the peak number of instances.
 */
export class UserNamespaces {
  private readonly free: number[] = [];
  private next = 0;
  private readonly nsFds = new Map<number, number>();
  /** `<slot>/<layer key>` → attached idmapped mount. */
  private readonly mapped = new Map<string, string>();

  constructor(
    readonly settings: UsernsSettings,
    private readonly mounts: IdmapMounts,
    /** Idmapped views of the layers are attached under here: `<dir>/<slot>/<key>`. */
    readonly dir: string,
    /**
     * Dirs of the agent's own (state dir, layer dir): a mount point the container's root must
     * reach gets o+x on each parent up to one of these; a parent above them that lacks it is
     * an error naming it, since the agent does not change permissions it does not own.
     */
    private readonly roots: string[],
  ) {
    checkSettings(settings);
    // A crash leaves the previous run's idmapped mounts; they are ours to detach.
    for (const p of mountPointsUnder(dir)) mounts.detach(p);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    this.searchable(dir);
  }

  acquire(): IdRange {
    let slot = this.free.length ? this.free.pop() : undefined;
    if (slot === undefined) {
      if (this.next >= this.settings.count)
        throw new FloeError(
          'RESOURCE_EXHAUSTED',
          `all ${this.settings.count} user-namespace id ranges are in use (FLOE_USERNS_COUNT)`,
          { fault: 'platform' },
        );
      slot = this.next++;
    }
    return { slot, hostBase: this.settings.base + slot * this.settings.size, size: this.settings.size };
  }

  release(range: IdRange): void {
    if (this.free.includes(range.slot)) return;
    this.free.push(range.slot);
    // Lowest first: the ranges whose layer mounts already exist are used again.
    this.free.sort((a, b) => b - a);
  }

  /** The runtime's uid/gid mappings for a range. */
  mappings(r: IdRange) {
    const m = [{ containerID: 0, hostID: r.hostBase, size: r.size }];
    return { uidMappings: m, gidMappings: m.map((x) => ({ ...x })) };
  }

  /**
   * The snapshotter's rootfs mounts with every overlay lower dir replaced by its idmapped
   * view for `r` (made on first use, then shared), so root-owned image files are root-owned
   * inside and nothing is copied or chowned. Mount points the container's root must reach
   * are made searchable (o+x, never o+r).
   */
  rootfsMounts(r: IdRange, mounts: Mount[]): Mount[] {
    return mounts.map((m) => {
      if (m.target) this.searchable(m.target);
      if (m.type !== 'overlay') return m;
      const options = m.options.map((o) => {
        if (!o.startsWith('lowerdir=')) return o;
        const lowers = o.slice('lowerdir='.length).split(':');
        return `lowerdir=${lowers.map((l) => this.idmapped(r, l)).join(':')}`;
      });
      return { ...m, options };
    });
  }

  private idmapped(r: IdRange, lower: string): string {
    const key = `${r.slot}/${createHash('sha256').update(lower).digest('hex').slice(0, 16)}`;
    const have = this.mapped.get(key);
    if (have) return have;
    const target = path.join(this.dir, key);
    mkdirSync(target, { recursive: true, mode: 0o711 });
    chmodSync(path.dirname(target), 0o711);
    this.mounts.bindIdmapped(lower, target, this.nsFd(r));
    this.mapped.set(key, target);
    return target;
  }

  private nsFd(r: IdRange): number {
    let fd = this.nsFds.get(r.slot);
    if (fd === undefined) {
      fd = this.mounts.userNamespace([{ inside: 0, host: r.hostBase, size: r.size }]);
      this.nsFds.set(r.slot, fd);
    }
    return fd;
  }

  /** Adds o+x (search, not read) to `p` and each parent that lacks it (see `roots`). */
  searchable(p: string): void {
    const roots = this.roots.map((r) => path.resolve(r));
    for (let dir = path.resolve(p); ; dir = path.dirname(dir)) {
      const st = statSync(dir, { throwIfNoEntry: false });
      if (st?.isDirectory() && !(st.mode & 0o001)) {
        if (!roots.some((r) => dir === r || dir.startsWith(`${r}/`)))
          throw new FailedPreconditionError(
            `user namespaces: ${dir} is not searchable by others (mode ${(st.mode & 0o777).toString(8)}), so a function's root cannot reach ${p}; allow o+x on it, move the state dir, or set FLOE_USERNS=off`,
            { path: dir },
          );
        chmodSync(dir, (st.mode & 0o7777) | 0o001);
      }
      if (dir === '/') return;
    }
  }

  /** Detaches every idmapped mount and drops the namespaces (agent stop). */
  close(): void {
    for (const p of this.mapped.values()) {
      try {
        this.mounts.detach(p);
      } catch {}
    }
    this.mapped.clear();
    for (const fd of this.nsFds.values()) {
      try {
        closeSync(fd);
      } catch {}
    }
    this.nsFds.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function checkSettings(s: UsernsSettings): void {
  const field = (f: string, m: string) => new ConfigError(f, m);
  if (!Number.isSafeInteger(s.base) || s.base < 65536)
    throw field('FLOE_USERNS_BASE', `must be an integer >= 65536 (host ids below are users'), got ${s.base}`);
  if (!Number.isSafeInteger(s.size) || s.size < 1 || s.size > 65536 * 16)
    throw field('FLOE_USERNS_SIZE', `must be an integer in 1..1048576, got ${s.size}`);
  if (!Number.isSafeInteger(s.count) || s.count < 1)
    throw field('FLOE_USERNS_COUNT', `must be an integer >= 1, got ${s.count}`);
  // 2^32-1 is the invalid id; the last usable one is below it.
  if (s.base + s.size * s.count > 0xffffffff)
    throw field(
      'FLOE_USERNS_COUNT',
      `base + size * count passes the 32-bit id space (${s.base + s.size * s.count})`,
    );
}

function mountPointsUnder(dir: string): string[] {
  const prefix = `${path.resolve(dir)}/`;
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}
