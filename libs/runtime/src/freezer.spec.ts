import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FreezerV1, FreezerV2 } from './freezer.js';

// Plain files stand in for the cgroup files: the kernel never reports frozen, so a freeze
// keeps waiting, as one does while a busy container's tasks take their time to stop.
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fakeCgroup(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-freezer-spec-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('freezers closed while in use (the container was deleted)', () => {
  it('v2: a waiting freeze fails with a clear error instead of reading an fd that may be reused', async () => {
    const f = new FreezerV2(fakeCgroup({ 'cgroup.freeze': '0', 'cgroup.events': 'populated 1\nfrozen 0\n' }));
    const waiting = f.freeze();
    await new Promise((r) => setTimeout(r, 20)); // past the spin: the wait yields now
    f.close();
    await expect(waiting).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/cgroup\.freeze: the freezer was closed/),
    });
    expect(() => f.thawSync()).toThrow(/closed/);
    await expect(f.freeze()).rejects.toThrow(/closed/);
    f.close(); // idempotent
  });

  it('v1: a closed freezer refuses to freeze or read its state', async () => {
    const f = new FreezerV1(fakeCgroup({ 'freezer.state': 'THAWED\n' }));
    f.close();
    await expect(f.freeze()).rejects.toThrow(/freezer\.state: the freezer was closed/);
    expect(() => f.isFrozen()).toThrow(/closed/);
  });
});
