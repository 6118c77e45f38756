import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotService } from './snapshot-service.js';
import { mountsUnder, performMounts } from './testing/mount-cli.js';
import { dockerSaveTar } from './testing/oci-fixture.js';
import { tarBuffer } from './testing/tar-fixture.js';

describe(SnapshotService.name, () => {
  let root = '';
  const undo: (() => void)[] = [];
  afterEach(() => {
    try {
      while (undo.length) undo.pop()!();
    } finally {
      if (root) {
        expect(mountsUnder(root)).toEqual([]);
        fs.rmSync(root, { recursive: true, force: true });
      }
      root = '';
    }
  });

  it('gives a capped rootfs for image + code layer, a read-only code mount, and releases it', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-svc-'));
    const svc = await SnapshotService.open(root, { durable: false });
    const base = await tarBuffer([{ name: 'etc/os-release', type: 'file', body: Buffer.from('ID=floe\n') }]);
    fs.writeFileSync(`${root}/img.tar`, await dockerSaveTar([base], { Cmd: ['/bin/sh'] }, 'floe/base:1'));
    const img = (await svc.importImage(`${root}/img.tar`)) && (await svc.resolveImage('floe/base:1'))!;
    fs.writeFileSync(
      `${root}/code.tar`,
      await tarBuffer([{ name: 'app.js', type: 'file', body: Buffer.from('ok') }]),
    );
    const code = await svc.importCode(`${root}/code.tar`, { leaseId: 'fn/app/1' });

    const mounts = await svc.rootfsFor('ctr-1', [...img.layers, code.diffID], { sizeLimitBytes: 1 << 20 });
    expect(mounts.map((m) => m.type)).toEqual(['tmpfs', 'overlay']);
    expect(await svc.mountsFor('ctr-1')).toEqual(mounts);
    expect(await svc.containers()).toEqual(['ctr-1']);
    const rootfs = path.join(root, 'rootfs');
    fs.mkdirSync(rootfs);
    undo.push(performMounts(mounts, rootfs));
    expect(fs.readFileSync(`${rootfs}/etc/os-release`, 'utf8')).toBe('ID=floe\n');
    expect(fs.readFileSync(`${rootfs}/app.js`, 'utf8')).toBe('ok');
    expect(() => fs.writeFileSync(`${rootfs}/fill`, Buffer.alloc(2 << 20))).toThrow(/ENOSPC/);

    await expect(svc.rootfsFor('ctr-1', img.layers)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(await svc.leases.get('container/ctr-1')).toBeDefined(); // the live container keeps its lease

    const cm = svc.codeMount(code.diffID);
    expect(cm).toMatchObject({ type: 'bind', target: '/code', source: code.path });
    fs.mkdirSync(`${root}/code-mnt`);
    undo.push(performMounts([{ ...cm, target: `${root}/code-mnt` }], ''));
    expect(() => fs.writeFileSync(`${root}/code-mnt/x`, '')).toThrow(/EROFS/);

    while (undo.length) undo.pop()!();
    await svc.release('ctr-1');
    await svc.release('ctr-1'); // idempotent
    expect(await svc.containers()).toEqual([]);
    expect(await svc.leases.get('container/ctr-1')).toBeUndefined();
  });

  it('rejects container ids that could not be a snapshot key', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-svc-'));
    const svc = await SnapshotService.open(root, { durable: false });
    await expect(svc.rootfsFor('../x', [])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
