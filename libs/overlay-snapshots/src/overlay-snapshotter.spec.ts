import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import { runSnapshotterConformance } from './snapshotter.conformance.js';

runSnapshotterConformance('overlay', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-snap-'));
  return {
    snapshotter: await OverlaySnapshotter.open(root),
    cleanup: async () => fs.rmSync(root, { recursive: true, force: true }),
  };
});

describe(OverlaySnapshotter.name, () => {
  const roots: string[] = [];
  const open = async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-snap-'));
    roots.push(root);
    return { root, s: await OverlaySnapshotter.open(root) };
  };
  afterEach(() => {
    for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
  });

  it('orders lowerdir immediate parent first', async () => {
    const { s } = await open();
    await s.prepare('a');
    await s.commit('l1', 'a');
    await s.prepare('b', 'l1');
    await s.commit('l2', 'b');
    await s.prepare('c', 'l2');
    await s.commit('l3', 'c');
    const [m] = await s.prepare('top', 'l3');
    const lower = m!.options
      .find((o) => o.startsWith('lowerdir='))!
      .slice('lowerdir='.length)
      .split(':');
    const dirOf = (n: string) => s.records().find((r) => r.name === n)!.id;
    expect(lower.map((p) => path.basename(path.dirname(p)))).toEqual([dirOf('l3'), dirOf('l2'), dirOf('l1')]);
  });

  it('returns a read-only bind for a one-layer view and an overlay otherwise', async () => {
    const { s } = await open();
    await s.prepare('a');
    await s.commit('l1', 'a');
    expect(await s.view('v', 'l1')).toEqual([
      { type: 'bind', source: expect.stringMatching(/\/fs$/), options: ['ro', 'rbind'] },
    ]);
    const p = await s.prepare('p', 'l1');
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ type: 'overlay', source: 'overlay' });
    expect(p[0]!.target).toBeUndefined();
  });

  it('returns tmpfs + overlay with X-floe.mkdir for a size-capped prepare', async () => {
    const { s, root } = await open();
    await s.prepare('a');
    await s.commit('l1', 'a');
    const m = await s.prepare('c', 'l1', { sizeLimitBytes: 64 << 20 });
    const id = s.records().find((r) => r.name === 'c')!.id;
    const rw = `${root}/snapshots/${id}/rw`;
    expect(m).toEqual([
      { type: 'tmpfs', source: 'tmpfs', target: rw, options: [`size=${64 << 20}`, 'mode=0755'] },
      {
        type: 'overlay',
        source: 'overlay',
        options: [
          `lowerdir=${root}/snapshots/${s.records().find((r) => r.name === 'l1')!.id}/fs`,
          `upperdir=${rw}/upper`,
          `workdir=${rw}/work`,
          `X-floe.mkdir=${rw}/upper`,
          `X-floe.mkdir=${rw}/work`,
        ],
      },
    ]);
    expect(fs.statSync(rw).isDirectory()).toBe(true);
  });

  it('reloads snapshots from disk and sweeps staging leftovers', async () => {
    const { s, root } = await open();
    await s.prepare('a', undefined, { labels: { k: 'v' } });
    await s.commit('l1', 'a');
    await s.prepare('b', 'l1');
    fs.mkdirSync(`${root}/snapshots/.tmp/half-built`);
    fs.mkdirSync(`${root}/snapshots/deadbeef0000`); // published dir without meta.json
    const again = await OverlaySnapshotter.open(root);
    expect(await again.stat('b')).toMatchObject({ kind: 'active', parent: 'l1' });
    expect((await again.stat('l1')).labels).toEqual({ k: 'v' });
    expect(fs.readdirSync(`${root}/snapshots/.tmp`)).toEqual([]);
    expect(fs.existsSync(`${root}/snapshots/deadbeef0000`)).toBe(false);
  });
});
