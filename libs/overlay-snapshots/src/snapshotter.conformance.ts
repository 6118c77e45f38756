import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Snapshotter } from './snapshotter.js';
import { mountsUnder, performMounts } from './testing/mount-cli.js';

export interface ConformanceFixture {
  snapshotter: Snapshotter;
  /** Called after every test, after all mounts are undone. */
  cleanup(): Promise<void>;
}

/**
 * containerd-style conformance suite (snapshots/testsuite): every Snapshotter
 * implementation must pass it. Mounts are performed for real (root required), and every
 * test undoes its mounts and temp dirs even when it fails.
 */
export function runSnapshotterConformance(name: string, factory: () => Promise<ConformanceFixture>): void {
  describe(`Snapshotter conformance: ${name}`, () => {
    let fx: ConformanceFixture;
    let s: Snapshotter;
    let work: string;
    const undo: (() => void)[] = [];

    const mountAt = (mounts: Parameters<typeof performMounts>[0], label: string): string => {
      const dir = path.join(work, label);
      fs.mkdirSync(dir, { recursive: true });
      undo.push(performMounts(mounts, dir));
      return dir;
    };
    const unmountAll = () => {
      while (undo.length) undo.pop()!();
    };
    /** prepare → write files → commit, in one step. */
    const layer = async (
      nameOf: string,
      parent: string | undefined,
      files: Record<string, string | null>,
    ) => {
      const key = `${nameOf}-active`;
      const dir = mountAt(await s.prepare(key, parent), key);
      for (const [f, body] of Object.entries(files)) {
        const p = path.join(dir, f);
        if (body === null) fs.rmSync(p, { recursive: true });
        else {
          fs.mkdirSync(path.dirname(p), { recursive: true });
          fs.writeFileSync(p, body);
        }
      }
      unmountAll();
      await s.commit(nameOf, key);
    };

    beforeEach(async () => {
      if (process.getuid?.() !== 0) throw new Error('snapshotter conformance needs root (real mounts)');
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-conf-'));
      fx = await factory();
      s = fx.snapshotter;
    });

    afterEach(async () => {
      try {
        unmountAll();
      } finally {
        await fx.cleanup();
        fs.rmSync(work, { recursive: true, force: true });
      }
      expect(mountsUnder(work)).toEqual([]);
    });

    it('prepare, write, commit, then a child sees the parent files', async () => {
      await layer('base', undefined, { 'etc/hello': 'base' });
      const dir = mountAt(await s.prepare('child', 'base'), 'child');
      expect(fs.readFileSync(path.join(dir, 'etc/hello'), 'utf8')).toBe('base');
      const info = await s.stat('child');
      expect(info).toMatchObject({ kind: 'active', name: 'child', parent: 'base' });
      expect(await s.stat('base')).toMatchObject({ kind: 'committed', name: 'base' });
      await expect(s.stat('base-active')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('copy-up on write leaves the committed parent unchanged', async () => {
      await layer('base', undefined, { 'data.txt': 'original' });
      const a = mountAt(await s.prepare('a', 'base'), 'a');
      fs.writeFileSync(path.join(a, 'data.txt'), 'changed');
      const v = mountAt(await s.view('v', 'base'), 'v');
      expect(fs.readFileSync(path.join(a, 'data.txt'), 'utf8')).toBe('changed');
      expect(fs.readFileSync(path.join(v, 'data.txt'), 'utf8')).toBe('original');
    });

    it('a deletion in a child hides the file in grandchildren but not in the parent', async () => {
      await layer('base', undefined, { 'gone.txt': 'x', 'kept.txt': 'y' });
      await layer('mid', 'base', { 'gone.txt': null });
      const top = mountAt(await s.view('top', 'mid'), 'top');
      expect(fs.existsSync(path.join(top, 'gone.txt'))).toBe(false);
      expect(fs.readFileSync(path.join(top, 'kept.txt'), 'utf8')).toBe('y');
      const base = mountAt(await s.view('vb', 'base'), 'vb');
      expect(fs.readFileSync(path.join(base, 'gone.txt'), 'utf8')).toBe('x');
    });

    it('the newest layer wins for a path present in every layer', async () => {
      await layer('l1', undefined, { f: '1' });
      await layer('l2', 'l1', { f: '2' });
      await layer('l3', 'l2', { f: '3' });
      const dir = mountAt(await s.prepare('c', 'l3'), 'c');
      expect(fs.readFileSync(path.join(dir, 'f'), 'utf8')).toBe('3');
      const v = mountAt(await s.view('v2', 'l2'), 'v2');
      expect(fs.readFileSync(path.join(v, 'f'), 'utf8')).toBe('2');
    });

    it('a view is read-only', async () => {
      await layer('l1', undefined, { f: '1' });
      await layer('l2', 'l1', { g: '2' });
      for (const parent of ['l1', 'l2']) {
        const v = mountAt(await s.view(`v-${parent}`, parent), `v-${parent}`);
        expect(() => fs.writeFileSync(path.join(v, 'new'), 'x')).toThrow(/EROFS/);
      }
    });

    it('mounts(key) returns the same mounts as prepare and view', async () => {
      await layer('base', undefined, { a: 'a' });
      const p = await s.prepare('p', 'base');
      expect(await s.mounts('p')).toEqual(p);
      const v = await s.view('v', 'base');
      expect(await s.mounts('v')).toEqual(v);
    });

    it('rejects duplicate keys, missing or uncommitted parents, and wrong-kind commits', async () => {
      await s.prepare('a');
      await expect(s.prepare('a')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await expect(s.prepare('b', 'missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(s.prepare('b', 'a')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await expect(s.commit('x', 'missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await s.commit('a-done', 'a');
      await s.view('v', 'a-done');
      await expect(s.commit('y', 'v')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await s.prepare('c');
      await expect(s.commit('a-done', 'c')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    });

    it('a committed snapshot with children cannot be removed until they are', async () => {
      await layer('base', undefined, { a: 'a' });
      await s.prepare('child', 'base');
      await expect(s.remove('base')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await s.remove('child');
      await s.remove('base');
      await expect(s.stat('base')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(s.remove('base')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('walk visits every snapshot once with its kind', async () => {
      await layer('base', undefined, { a: 'a' });
      await s.prepare('act', 'base');
      await s.view('vw', 'base');
      const seen: Record<string, string> = {};
      await s.walk((i) => {
        seen[i.name] = i.kind;
      });
      expect(seen).toEqual({ base: 'committed', act: 'active', vw: 'view' });
    });

    it('labels given to prepare and commit are kept', async () => {
      await s.prepare('a', undefined, { labels: { x: '1' } });
      expect((await s.stat('a')).labels).toEqual({ x: '1' });
      await s.commit('b', 'a', { labels: { y: '2' } });
      expect((await s.stat('b')).labels).toEqual({ x: '1', y: '2' });
    });

    it('usage counts the bytes written into the snapshot', async () => {
      await layer('base', undefined, { a: 'a' });
      const dir = mountAt(await s.prepare('u', 'base'), 'u');
      const before = await s.usage('u');
      fs.writeFileSync(path.join(dir, 'big'), Buffer.alloc(1 << 20, 1));
      const after = await s.usage('u');
      expect(after.size - before.size).toBeGreaterThanOrEqual(1 << 20);
      expect(after.inodes).toBeGreaterThan(before.inodes);
    });

    it('a size-capped writable layer fails with ENOSPC past its cap', async () => {
      await layer('base', undefined, { a: 'a' });
      const dir = mountAt(await s.prepare('cap', 'base', { sizeLimitBytes: 1 << 20 }), 'cap');
      expect(() => fs.writeFileSync(path.join(dir, 'fill'), Buffer.alloc(2 << 20, 1))).toThrow(/ENOSPC/);
      fs.rmSync(path.join(dir, 'fill'));
      fs.writeFileSync(path.join(dir, 'small'), 'fits'); // the cap is per container, not a wedge
      await expect(s.commit('nope', 'cap')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    });

    it('removing an active snapshot leaves its parent intact for the next container', async () => {
      await layer('base', undefined, { a: 'a' });
      const d1 = mountAt(await s.prepare('c1', 'base'), 'c1');
      fs.writeFileSync(path.join(d1, 'a'), 'mine');
      unmountAll();
      await s.remove('c1');
      const d2 = mountAt(await s.prepare('c1', 'base'), 'c1b');
      expect(fs.readFileSync(path.join(d2, 'a'), 'utf8')).toBe('a');
    });
  });
}
