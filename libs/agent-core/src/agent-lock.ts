import { readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError } from '@floe/contracts';

/**
 * One agent per state dir: a second one would destroy the first one's containers during its
 * crash recovery. The pid file is checked for a live owner, so a kill -9 never locks us out.
 */
export function lockStateDir(dir: string): () => void {
  const file = path.join(dir, 'agent.pid');
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (pid && pid !== process.pid && alive(pid)) {
      throw new FailedPreconditionError(
        `state dir ${dir} is in use by agent pid ${pid}; give each agent its own FLOE_STATE_DIR`,
      );
    }
  } catch (err) {
    if (err instanceof FailedPreconditionError) throw err;
  }
  writeFileSync(file, String(process.pid));
  return () => writeFileSync(file, '');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes the agent's (empty) cgroup parent from every hierarchy once its containers are gone. */
export function removeCgroupParent(
  info: { v1Mounts: Record<string, string>; unifiedPath?: string },
  parent: string,
): void {
  const roots = new Set([...Object.values(info.v1Mounts), ...(info.unifiedPath ? [info.unifiedPath] : [])]);
  for (const root of roots) {
    try {
      rmdirSync(path.join(root, parent));
    } catch {}
  }
}
