import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeBusyboxRootfs } from '../bench/runtime-bench.js';
import { detectCgroups } from '../cgroups/detect.js';
import { Runtime, type RuntimeOptions } from '../runtime.js';
import { makePipe } from '../stdio.js';

export { makeBusyboxRootfs };

export const APPLETS = [
  'sh',
  'true',
  'false',
  'sleep',
  'cat',
  'echo',
  'ps',
  'ls',
  'hostname',
  'id',
  'ip',
  'touch',
  'mount',
  'grep',
  'head',
  'dd',
  'kill',
  'yes',
  'wc',
  'umount',
  'ping',
  'nc',
];

/** A Runtime on a unique cgroup parent and temp state dir, with a busybox rootfs; `cleanup()` removes all. */
export function testEnv(opts: Partial<RuntimeOptions> = {}) {
  const parent = `floe-test-${Math.random().toString(36).slice(2, 10)}`;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-state-'));
  const rootfs = makeBusyboxRootfs(APPLETS);
  const rt = new Runtime({ stateDir, cgroupParent: parent, ...opts });
  const ids = new Set<string>();
  return {
    rt,
    rootfs,
    stateDir,
    parent,
    id(prefix = 'c'): string {
      const id = `${prefix}-${ids.size}-${Math.random().toString(36).slice(2, 8)}`;
      ids.add(id);
      return id;
    },
    async cleanup(): Promise<void> {
      for (const id of ids) {
        try {
          await rt.delete(id);
        } catch {}
      }
      rt.close();
      removeCgroupParent(parent);
      fs.rmSync(rootfs, { recursive: true, force: true });
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export function removeCgroupParent(parent: string): void {
  const info = detectCgroups();
  const roots = [...new Set(Object.values(info.v1Mounts))];
  if (info.unifiedPath) roots.push(info.unifiedPath);
  for (const r of roots) {
    try {
      fs.rmdirSync(path.join(r, parent));
    } catch {}
  }
}

/** A pipe whose write end goes to the container; `text()` resolves with everything written. */
export function capture(): { fd: number; text: () => Promise<string>; closeWrite: () => void } {
  const p = makePipe();
  const sock = new net.Socket({ fd: p.read, readable: true, writable: false });
  const chunks: Buffer[] = [];
  const done = new Promise<string>((resolve) => {
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => resolve(Buffer.concat(chunks).toString()));
    sock.on('error', () => resolve(Buffer.concat(chunks).toString()));
  });
  let closed = false;
  const closeWrite = () => {
    if (!closed) fs.closeSync(p.write);
    closed = true;
  };
  const text = () => {
    closeWrite();
    return done;
  };
  return { fd: p.write, text, closeWrite };
}

export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

export function mountCount(): number {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).length;
}
