import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBusyboxRootfs } from '../bench/runtime-bench.js';
import { Runtime } from '../runtime.js';
import { defaultSpec } from '../spec/defaults.js';
import { APPLETS, removeCgroupParent } from '../testing/fixtures.js';
import { main } from './floe-runtime.js';

// The CLI uses the default cgroup parent `floe`; ids are unique per run.
let bundle: string;
let root: string;
const suffix = Math.random().toString(36).slice(2, 8);

beforeAll(() => {
  bundle = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-bundle-'));
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-cli-'));
  const rootfs = makeBusyboxRootfs(APPLETS);
  fs.renameSync(rootfs, path.join(bundle, 'rootfs'));
  const spec = defaultSpec({ rootfs: 'rootfs', args: ['/bin/sleep', '100'] });
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
});
afterAll(async () => {
  const rt = new Runtime({ stateDir: root });
  for (const s of await rt.list()) await rt.delete(s.id);
  fs.rmSync(bundle, { recursive: true, force: true });
  fs.rmSync(root, { recursive: true, force: true });
  removeCgroupParent('floe');
});

async function state(id: string) {
  return (await new Runtime({ stateDir: root }).load(id))?.status;
}

describe('floe-runtime CLI', () => {
  it('create waits on exec.fifo until start from another runtime; pause, resume, kill, delete', async () => {
    const id = `cli-${suffix}`;
    const cli = (...a: string[]) => main(['--root', root, ...a]);
    expect(await cli('create', id, '-b', bundle)).toBe(0);
    expect(fs.existsSync(path.join(root, 'runtime', id, 'exec.fifo'))).toBe(true);
    expect(await state(id)).toBe('created');
    expect(await cli('start', id)).toBe(0);
    expect(await state(id)).toBe('running');
    expect(await cli('pause', id)).toBe(0);
    expect(await state(id)).toBe('paused');
    expect(await cli('resume', id)).toBe(0);
    expect(await state(id)).toBe('running');
    expect(await cli('kill', id, 'KILL')).toBe(0);
    // The kill is asynchronous; on a loaded machine the reap can take a while.
    await expect.poll(() => state(id), { timeout: 20_000, interval: 10 }).toBe('stopped');
    expect(await cli('delete', id)).toBe(0);
    expect(await state(id)).toBeUndefined();
    expect(await cli('delete', id)).toBe(0);
  });

  it('run returns the exit code of the container', async () => {
    const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    cfg.process.args = ['/bin/sh', '-c', 'exit 5'];
    const b2 = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-bundle2-'));
    cfg.root.path = path.join(bundle, 'rootfs');
    fs.writeFileSync(path.join(b2, 'config.json'), JSON.stringify(cfg));
    try {
      expect(await main(['--root', root, 'run', `run-${suffix}`, '-b', b2])).toBe(5);
    } finally {
      fs.rmSync(b2, { recursive: true, force: true });
    }
  });
});
