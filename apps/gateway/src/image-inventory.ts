import type { AgentInfo } from '@floe/contracts';

/** One row of GET /floe/images. */
export interface ImageRow {
  ref: string;
  refs: string[];
  digest: string;
  size: number;
  /** Agents that have it, and agents pulling it now. */
  present: string[];
  pulling: string[];
}

/**
 * What every agent reported in its heartbeat, merged by digest; uploads no agent has yet are
 * listed too (present nowhere), so an upload is visible before its first deploy.
 */
export function imageInventory(agents: AgentInfo[], uploads: Map<string, { pinned?: string }>): ImageRow[] {
  const rows = new Map<string, ImageRow>();
  for (const a of agents) {
    for (const img of a.images ?? []) {
      const row = rows.get(img.digest) ?? {
        ref: img.refs[0] ?? img.digest,
        refs: [],
        digest: img.digest,
        size: img.size,
        present: [],
        pulling: [],
      };
      for (const r of img.refs) if (!row.refs.includes(r)) row.refs.push(r);
      (img.state === 'pulling' ? row.pulling : row.present).push(a.id);
      rows.set(img.digest, row);
    }
  }
  const known = new Set([...rows.values()].flatMap((r) => r.refs));
  for (const [ref, up] of uploads) {
    if (known.has(ref) || (up.pinned && known.has(up.pinned))) continue;
    const digest = up.pinned?.split('@')[1] ?? '';
    rows.set(`upload ${ref}`, { ref, refs: [ref], digest, size: 0, present: [], pulling: [] });
  }
  return [...rows.values()].sort((a, b) => a.ref.localeCompare(b.ref));
}
