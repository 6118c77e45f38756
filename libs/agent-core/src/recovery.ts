import { readFileSync, rmSync } from 'node:fs';
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
): Promise<{ containers: number; mounts: number }> {
  let containers = 0;
  for (const c of await runtime.list()) {
    await runtime.delete(c.id);
    containers++;
  }
  const prefix = `${path.resolve(instancesDir)}/`;
  // Deepest first, so a bind on top of a shared point goes before the point itself.
  const points = mountPoints()
    .filter((p) => p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const p of points) mounts.detach(p);
  rmSync(instancesDir, { recursive: true, force: true });
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
