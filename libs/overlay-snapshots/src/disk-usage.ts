import fs from 'node:fs';

export interface Usage {
  /** Bytes allocated on disk (st_blocks * 512), du-style. */
  size: number;
  /** Distinct inodes. */
  inodes: number;
}

/**
 * du(1) for one tree: allocated blocks, each hard-linked inode counted once (`seen` may be
 * shared across calls to count a set of trees without double-counting shared inodes).
 * Never follows symlinks. A missing root counts as empty.
 */
export function diskUsage(root: string, seen = new Set<string>()): Usage {
  const out: Usage = { size: 0, inodes: 0 };
  const visit = (p: string): void => {
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(p, { bigint: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    const id = `${st.dev}:${st.ino}`;
    if (st.nlink > 1n || st.isDirectory()) {
      if (seen.has(id)) return;
      seen.add(id);
    }
    out.size += Number(st.blocks) * 512;
    out.inodes++;
    if (st.isDirectory()) for (const n of fs.readdirSync(p)) visit(`${p}/${n}`);
  };
  visit(root);
  return out;
}
