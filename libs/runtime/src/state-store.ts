import fs from 'node:fs';
import path from 'node:path';
import type { ContainerStatus } from './container-state.js';

/** What survives a runtime restart: enough to find, signal and clean up a container. */
export interface PersistedState {
  id: string;
  pid: number;
  /** /proc/<pid>/stat field 22, to tell our process from a reused pid. */
  startTime: number;
  status: ContainerStatus;
  rootfs: string;
  bundle?: string;
  created: string;
  cgroup: { parent: string; rel: string; driver: 'v1' | 'v2' | 'hybrid'; freezer: 'auto' | 'v1' | 'v2' };
  ownerPid: number;
  network?: { ip: string; hostVeth: string };
}

/** OCI `state` output plus Floe fields. */
export interface ContainerState extends PersistedState {
  ociVersion: string;
}

/** `<stateDir>/runtime/<id>/state.json`, written with temp + rename. */
export class StateStore {
  readonly dir: string;
  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'runtime');
  }

  containerDir(id: string): string {
    return path.join(this.dir, id);
  }

  exists(id: string): boolean {
    return fs.existsSync(this.containerDir(id));
  }

  /** Creates the container dir; fails with EEXIST if another create got there first. */
  reserve(id: string): void {
    fs.mkdirSync(this.dir, { recursive: true });
    fs.mkdirSync(this.containerDir(id));
  }

  write(s: PersistedState): void {
    const file = path.join(this.containerDir(s.id), 'state.json');
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(s));
    fs.renameSync(tmp, file);
  }

  read(id: string): PersistedState | undefined {
    try {
      return JSON.parse(
        fs.readFileSync(path.join(this.containerDir(id), 'state.json'), 'utf8'),
      ) as PersistedState;
    } catch {
      return undefined;
    }
  }

  ids(): string[] {
    try {
      return fs.readdirSync(this.dir);
    } catch {
      return [];
    }
  }

  remove(id: string): void {
    const dir = this.containerDir(id);
    // The common case in two syscalls; rmSync's walk (stat, opendir, ...) only for leftovers
    // such as exec.fifo or a temp file of a crashed write.
    try {
      fs.unlinkSync(path.join(dir, 'state.json'));
    } catch {}
    try {
      fs.rmdirSync(dir);
    } catch {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined if gone or a zombie. */
export function procStartTime(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // A zombie is dead for our purposes: its reaper (not us, after a restart) just lags.
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    // rest[0] is field 3 (state), so field 22 is rest[19].
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}
