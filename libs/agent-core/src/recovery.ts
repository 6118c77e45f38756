import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Runtime } from '@floe/runtime';
import type { HostMounts } from './ports.js';

/**
 * After a crash (kill -9) the agent finds what it owned — containers in the runtime's state
 * dir, host mounts under its instances dir — and destroys all of it before serving. Frozen
 * instances are cheap to recreate, so destroying beats re-adopting half-known state.
 */
export async function recover(
  runtime: Runtime,
  mounts: HostMounts,
  instancesDir: string,
  cgroupParent?: string,
): Promise<{ containers: number; mounts: number }> {
  let containers = 0;
  const failures: unknown[] = [];
  for (const c of await runtime.list()) {
    // One container that won't go must not keep the rest (and every mount) behind.
    try {
      await runtime.delete(c.id);
    } catch (err) {
      failures.push(err);
    }
    containers++;
  }
  // A container killed with its agent mid-create has a cgroup but no saved state yet.
  if (cgroupParent) containers += await killStrayCgroups(runtime.cgroups, cgroupParent);
  const prefix = `${path.resolve(instancesDir)}/`;
  // Deepest first, so a bind on top of a shared point goes before the point itself.
  const points = mountPoints()
    .filter((p) => p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    try {
      mounts.detach(p);
    } catch (err) {
      failures.push(err);
    }
  }
  rmSync(instancesDir, { recursive: true, force: true });
  // Everything that could go went; what could not is the caller's to report (and refuse to serve).
  if (failures.length)
    throw new AggregateError(
      failures,
      `agent recovery: ${failures.length} step(s) failed, first: ${String((failures[0] as Error)?.message ?? failures[0])}`,
    );
  return { containers, mounts: points.length };
}

/** Mount points of this mount namespace, from /proc/self/mountinfo (octal escapes decoded). */
export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) =>
      (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8))),
    );
}

/** Kills every process left in a cgroup under the agent's parent, then removes the cgroups. */
async function killStrayCgroups(
  info: { v1Mounts: Record<string, string>; unifiedPath?: string },
  parent: string,
): Promise<number> {
  const roots = [
    ...new Set([...Object.values(info.v1Mounts), ...(info.unifiedPath ? [info.unifiedPath] : [])]),
  ];
  const dirs = roots.flatMap((r) => {
    const p = path.join(r, parent);
    if (!existsSync(p)) return [];
    return readdirSync(p, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => path.join(p, d.name));
  });
  const names = new Set(dirs.map((d) => path.basename(d)));
  for (let round = 0; round < 50; round++) {
    let left = 0;
    for (const d of dirs) {
      for (const pid of readPids(d)) {
        left++;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      // A frozen v1 cgroup holds SIGKILLed tasks until it is thawed.
      try {
        if (existsSync(path.join(d, 'freezer.state'))) writeQuiet(path.join(d, 'freezer.state'), 'THAWED');
        if (existsSync(path.join(d, 'cgroup.freeze'))) writeQuiet(path.join(d, 'cgroup.freeze'), '0');
      } catch {}
    }
    if (left === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  // A killed task stays in its cgroup until reaped (cgroup.events `populated`), and rmdir
  // fails with EBUSY until then: retry for a while instead of leaving the dir behind.
  for (const d of dirs) {
    for (let i = 0; i < 250; i++) {
      try {
        rmdirSync(d);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY') break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
  return names.size;
}

function readPids(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function writeQuiet(file: string, v: string) {
  try {
    writeFileSync(file, v);
  } catch {}
}
