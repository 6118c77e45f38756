import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, FloeError, type Mount } from '@floe/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type IdmapMounts, UserNamespaces } from './user-namespaces.js';

/** Records what would be mounted; the real calls are covered by the runtime's integration tests. */
function fakeMounts() {
  const calls: string[] = [];
  let fd = 100;
  const m: IdmapMounts = {
    userNamespace: (maps) => {
      calls.push(`userns ${maps.map((x) => `${x.inside}:${x.host}:${x.size}`).join(',')}`);
      return fd++;
    },
    bindIdmapped: (src, dst, f) =>
      void calls.push(`idmap ${src} -> ${path.basename(path.dirname(dst))} fd ${f}`),
    detach: (p) => void calls.push(`detach ${p}`),
  };
  return { m, calls };
}

const overlay = (lowers: string[]): Mount => ({
  type: 'overlay',
  source: 'overlay',
  options: [`lowerdir=${lowers.join(':')}`, 'upperdir=/u', 'workdir=/w'],
});

describe(UserNamespaces.name, () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-userns-spec-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('leases a distinct range per instance, lowest free first, and refuses past the count', () => {
    const { m } = fakeMounts();
    const u = new UserNamespaces({ base: 100_000, size: 1000, count: 2 }, m, path.join(dir, 'idmap'), [dir]);
    const a = u.acquire();
    const b = u.acquire();
    expect([a.hostBase, b.hostBase]).toEqual([100_000, 101_000]);
    expect(() => u.acquire()).toThrow(FloeError);
    u.release(a);
    expect(u.acquire().hostBase).toBe(100_000);
    expect(u.mappings(b)).toEqual({
      uidMappings: [{ containerID: 0, hostID: 101_000, size: 1000 }],
      gidMappings: [{ containerID: 0, hostID: 101_000, size: 1000 }],
    });
  });

  it('rewrites overlay lower dirs to idmapped views, made once per range and layer', () => {
    const { m, calls } = fakeMounts();
    const u = new UserNamespaces({ base: 100_000, size: 1000, count: 4 }, m, path.join(dir, 'idmap'), [dir]);
    const r = u.acquire();
    const first = u.rootfsMounts(r, [overlay(['/l/2', '/l/1'])]);
    const again = u.rootfsMounts(r, [overlay(['/l/2', '/l/1'])]);
    expect(again).toEqual(first);
    const lowers = first[0]!.options[0]!.slice('lowerdir='.length).split(':');
    expect(lowers.every((l) => l.startsWith(path.join(dir, 'idmap', String(r.slot))))).toBe(true);
    expect(calls.filter((c) => c.startsWith('userns'))).toEqual(['userns 0:100000:1000']);
    expect(calls.filter((c) => c.startsWith('idmap')).length).toBe(2);
    expect(first[0]!.options.slice(1)).toEqual(['upperdir=/u', 'workdir=/w']);
    u.close();
    expect(calls.filter((c) => c.startsWith('detach')).length).toBe(2);
  });

  it('names the variable of a bad range setting', () => {
    const { m } = fakeMounts();
    const make = (s: { base: number; size: number; count: number }) => () =>
      new UserNamespaces(s, m, dir, [dir]);
    expect(make({ base: 10, size: 65536, count: 1 })).toThrow(ConfigError);
    expect(make({ base: 10, size: 65536, count: 1 })).toThrow(/FLOE_USERNS_BASE/);
    expect(make({ base: 2 ** 31, size: 65536, count: 1 << 20 })).toThrow(/FLOE_USERNS_COUNT/);
  });

  it('makes mount points searchable inside its roots, and names a parent outside them that is not', () => {
    const { m } = fakeMounts();
    fs.chmodSync(dir, 0o711);
    const root = path.join(dir, 'state');
    fs.mkdirSync(path.join(root, 'a/b'), { recursive: true, mode: 0o700 });
    const u = new UserNamespaces({ base: 100_000, size: 1000, count: 1 }, m, path.join(root, 'idmap'), [
      root,
    ]);
    fs.chmodSync(path.join(root, 'a'), 0o700);
    u.searchable(path.join(root, 'a/b'));
    expect(fs.statSync(path.join(root, 'a')).mode & 0o777).toBe(0o701);
    const outside = path.join(dir, 'closed');
    fs.mkdirSync(path.join(outside, 'x'), { recursive: true });
    fs.chmodSync(outside, 0o700);
    expect(() => u.searchable(path.join(outside, 'x'))).toThrow(/not searchable by others/);
  });
});
