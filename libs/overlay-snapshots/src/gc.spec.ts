import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotService } from './snapshot-service.js';
import { dockerSaveTar } from './testing/oci-fixture.js';
import { tarBuffer } from './testing/tar-fixture.js';

describe('gc and leases', () => {
  let root = '';
  afterEach(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
    root = '';
  });
  const setup = async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-gc-'));
    const svc = await SnapshotService.open(root, { durable: false });
    const base = await tarBuffer([{ name: 'base', type: 'file', body: Buffer.alloc(50_000, 1) }]);
    const top = await tarBuffer([{ name: 'top', type: 'file', body: Buffer.alloc(50_000, 2) }]);
    fs.writeFileSync(`${root}/img.tar`, await dockerSaveTar([base, top], {}, 'app/a:1'));
    const img = await svc.importImage(`${root}/img.tar`);
    const code = await tarBuffer([{ name: 'handler.js', type: 'file', body: Buffer.from('x') }]);
    fs.writeFileSync(`${root}/code.tar`, code);
    return { svc, img };
  };

  it('keeps everything an image ref, lease or container holds; collects the rest', async () => {
    const { svc, img } = await setup();
    const code = await svc.importCode(`${root}/code.tar`, { leaseId: 'fn/hello/1' });
    await svc.rootfsFor('c1', [...img.layers, code.diffID]);
    expect((await svc.gc({ graceMs: 0 })).layersRemoved).toEqual([]);

    await svc.images.untag('app/a:1');
    // The container still stands on the image layers and the code layer.
    let r = await svc.gc({ graceMs: 0 });
    expect(r.layersRemoved).toEqual([]);
    expect(r.blobsRemoved).toHaveLength(2); // manifest + config of the forgotten image

    await svc.release('c1');
    r = await svc.gc({ graceMs: 0 });
    expect(r.layersRemoved.sort()).toEqual([...img.layers].sort());
    expect(r.snapshotsRemoved.length).toBeGreaterThan(0);
    expect(r.bytesFreed).toBeGreaterThan(100_000);
    expect(svc.layers.has(code.diffID)).toBe(true); // still leased by the function version

    await svc.leases.releaseLease('fn/hello/1');
    r = await svc.gc({ graceMs: 0 });
    expect(r.layersRemoved).toEqual([code.diffID]);
    expect(svc.layers.list()).toEqual([]);
    const left: string[] = [];
    await svc.snapshotter.walk((i) => {
      left.push(i.name);
    });
    expect(left).toEqual([]);
  });

  it('spares fresh unreferenced layers within the grace period', async () => {
    const { svc } = await setup();
    const code = await svc.importCode(`${root}/code.tar`);
    expect((await svc.gc()).layersRemoved).toEqual([]);
    expect((await svc.gc({ graceMs: 0 })).layersRemoved).toEqual([code.diffID]);
  });

  it('persists leases across reopen', async () => {
    const { svc, img } = await setup();
    await svc.leases.lease('fn/x/1', img.layers);
    const again = await SnapshotService.open(root);
    expect((await again.leases.get('fn/x/1'))?.digests).toEqual(img.layers);
    await again.images.untag('app/a:1');
    expect((await again.gc({ graceMs: 0 })).layersRemoved).toEqual([]);
  });

  it('usage counts hard-linked inodes once', async () => {
    const { svc } = await setup();
    const before = svc.usage().size;
    const tar = await tarBuffer([
      { name: 'big', type: 'file', body: Buffer.alloc(1 << 20, 9) },
      { name: 'big2', type: 'link', linkname: 'big' },
      { name: 'big3', type: 'link', linkname: 'big' },
    ]);
    fs.writeFileSync(`${root}/hl.tar`, tar);
    const l = await svc.importCode(`${root}/hl.tar`);
    expect(l.size).toBeLessThan(1.2 * (1 << 20));
    const grown = svc.usage().size - before;
    expect(grown).toBeGreaterThanOrEqual(1 << 20);
    expect(grown).toBeLessThan(1.3 * (1 << 20));
  });
});
