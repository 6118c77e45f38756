import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotRootfs } from './snapshot-rootfs.js';

describe('SnapshotRootfs.imageFile', () => {
  let dir: string;
  let rootfs: SnapshotRootfs;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-imagefile-'));
    rootfs = await SnapshotRootfs.open(dir);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads a file from the image's own layers, and nothing outside them", async () => {
    expect(await rootfs.imageFile('floe/python:latest', 'etc/passwd')).toMatch(/^root:x:0:0:/);
    expect(await rootfs.imageFile('floe/python:latest', 'etc/missing')).toBeUndefined();
    expect(await rootfs.imageFile('floe/python:latest', '../../../../etc/passwd')).toBeUndefined();
    expect(await rootfs.imageFile('no/such:image', 'etc/passwd')).toBeUndefined();
  });
});
