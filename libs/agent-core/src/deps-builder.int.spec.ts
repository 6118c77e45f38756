import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FunctionVersion } from '@floe/contracts';
import { depsSpec } from '@floe/overlay-snapshots';
import { HostMountsFfi, Runtime } from '@floe/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeCgroupParent } from './agent-lock.js';
import { ChannelServer } from './channel-server.js';
import { ContainerLauncher } from './container-launcher.js';
import { BuildFailedError, DepsBuilder, type DepsBuilderOptions } from './deps-builder.js';
import { findNpm, findPip } from './deps-installer.js';
import { LogStore } from './log-store.js';
import { ensureWatchdog } from './native-build.js';
import { Pool } from './pool.js';
import { recover } from './recovery.js';
import { SnapshotRootfs } from './snapshot-rootfs.js';
import { cgroupDirs, mountsUnder } from './testing/host-leaks.js';
import { npmReachable } from './testing/npm-registry.js';
import { servePipIndex } from './testing/pip-index.js';
import { UserNamespaces } from './user-namespaces.js';

const tag = Math.random().toString(36).slice(2, 8);
const parent = `floe-depsb-${tag}`;
const bridge = `flb${tag}`;
// Apart from the runtime bridge spec's 10.100-199 and the agents' 10.89: no two bridges share a subnet.
const second = 200 + Math.floor(Math.random() * 50);
const gateway = `10.${second}.0.1`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-depsb-'));
const mounts = new HostMountsFfi();

const hasPip = (() => {
  try {
    return Boolean(findPip());
  } catch {
    return false;
  }
})();
const hasNpm = (() => {
  try {
    return Boolean(findNpm());
  } catch {
    return false;
  }
})();
if (!hasPip) console.warn('[agent-core] SKIP python deps build: no Debian pip (apt-get install python3-pip)');
if (!hasNpm) console.warn('[agent-core] SKIP node deps build: no host npm');

const online = await npmReachable();
if (!online)
  console.warn('[agent-core] SKIP npm deps build: registry.npmjs.org is unreachable from this host');

let runtime: Runtime;
let rootfs: SnapshotRootfs;
let userns: UserNamespaces;
let index: Awaited<ReturnType<typeof servePipIndex>>;
let builder: DepsBuilder;

function opts(r: SnapshotRootfs): DepsBuilderOptions {
  return {
    runtime,
    service: r.service,
    workDir: path.join(dir, 'builds'),
    mounts,
    userns,
    memoryBytes: 512 << 20,
    timeoutMs: 120_000,
    writableBytes: 256 << 20,
    network: 'bridge',
    installer: { pipIndexUrl: index.url(gateway) },
  };
}

beforeAll(async () => {
  runtime = new Runtime({
    stateDir: path.join(dir, 'state'),
    cgroupParent: parent,
    bridge: { name: bridge, subnet: `10.${second}.0.0` },
  });
  rootfs = await SnapshotRootfs.open(path.join(dir, 'layers'));
  userns = new UserNamespaces({ base: 1 << 30, size: 65536, count: 4 }, mounts, path.join(dir, 'idmap'), [
    dir,
  ]);
  index = await servePipIndex([
    { name: 'floe-hello', version: '1.0', module: 'floe_hello', body: 'GREETING = "hello from a wheel"\n' },
  ]);
  builder = new DepsBuilder(opts(rootfs));
}, 120_000);

afterAll(async () => {
  await index?.close();
  if (runtime) {
    await recover(runtime, mounts, path.join(dir, 'instances'), parent).catch(() => {});
    runtime.bridge.destroyBridge();
    runtime.close();
    removeCgroupParent(runtime.cgroups, parent);
  }
  userns?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Nothing of a build is left: no container, cgroup, mount or scratch dir. */
async function expectNoBuildLeft() {
  expect(await runtime.list()).toEqual([]);
  expect(cgroupDirs(parent)).toEqual([]);
  expect(mountsUnder(path.join(dir, 'builds'))).toEqual([]);
  expect(fs.readdirSync(path.join(dir, 'builds'))).toEqual([]);
  expect(await rootfs.service.containers()).toEqual([]);
}

describe('DepsBuilder (a real build sandbox)', () => {
  it.skipIf(!hasPip)(
    'pip-installs requirements.txt from an index over the sandbox bridge into a root-owned layer; a second ensure, and one after a restart, are cached',
    async () => {
      const spec = depsSpec('python', { 'requirements.txt': 'floe-hello==1.0\n' })!;
      const lines: string[] = [];
      const first = await builder.ensure({ runtime: 'python', key: spec.key, files: spec.files }, (l) =>
        lines.push(l),
      );
      expect(first.cached).toBe(false);
      expect(lines.join('\n')).toMatch(/Successfully installed floe.hello-1\.0/i);
      const init = path.join(first.path, 'floe_hello', '__init__.py');
      expect(fs.readFileSync(init, 'utf8')).toContain('hello from a wheel');
      expect(fs.statSync(init).uid).toBe(0);
      expect(await builder.keys()).toContain(spec.key);
      await expectNoBuildLeft();

      const again: string[] = [];
      const repeat = await builder.ensure({ runtime: 'python', key: spec.key, files: spec.files }, (l) =>
        again.push(l),
      );
      expect(repeat).toEqual({ path: first.path, cached: true });
      expect(again).toEqual([]);

      // An agent restart: a new store and builder over the same layer dir still hold it.
      const reopened = await SnapshotRootfs.open(path.join(dir, 'layers'));
      const restarted = new DepsBuilder({
        ...opts(reopened),
        workDir: path.join(dir, 'builds-restarted'),
      });
      expect(await restarted.ensure({ runtime: 'python', key: spec.key, files: spec.files })).toEqual({
        path: first.path,
        cached: true,
      });
    },
    180_000,
  );

  it.skipIf(!hasPip)(
    "fails a missing package with 422 and pip's last lines, and keeps no layer",
    async () => {
      const spec = depsSpec('python', { 'requirements.txt': 'floe-not-there==9.9\n' })!;
      const err = await builder.ensure({ runtime: 'python', key: spec.key, files: spec.files }).then(
        () => undefined,
        (e) => e,
      );
      expect(err).toBeInstanceOf(BuildFailedError);
      expect(err.details.httpStatus).toBe(422);
      expect(err.message).toMatch(/pip install failed \(exit 1\)/);
      expect(err.message).toMatch(/No matching distribution found for floe-not-there/);
      expect(await builder.path(spec.key)).toBeUndefined();
      expect(await builder.keys()).not.toContain(spec.key);
      await expectNoBuildLeft();
    },
    180_000,
  );

  it.skipIf(!hasPip)(
    'kills an install that outlives FLOE_BUILD_TIMEOUT_MS and fails it with 422, leaving nothing behind',
    async () => {
      // An index that accepts connections and never answers: pip would wait for minutes.
      const hang = net.createServer(() => {});
      await new Promise<void>((r) => hang.listen(0, '0.0.0.0', r));
      const port = (hang.address() as net.AddressInfo).port;
      const slow = new DepsBuilder({
        ...opts(rootfs),
        workDir: path.join(dir, 'builds-slow'),
        timeoutMs: 3000,
        installer: { pipIndexUrl: `http://${gateway}:${port}/simple/` },
      });
      try {
        const spec = depsSpec('python', { 'requirements.txt': 'floe-slow==1.0\n' })!;
        const err = await slow
          .ensure({ runtime: 'python', key: spec.key, files: spec.files })
          .catch((e) => e);
        expect(err).toBeInstanceOf(BuildFailedError);
        expect(err.details.httpStatus).toBe(422);
        expect(err.message).toMatch(/pip install failed \(killed after 3 s, FLOE_BUILD_TIMEOUT_MS\)/);
        expect(await slow.path(spec.key)).toBeUndefined();
        expect(await runtime.list()).toEqual([]);
        expect(fs.readdirSync(path.join(dir, 'builds-slow'))).toEqual([]);
      } finally {
        hang.close();
      }
    },
    120_000,
  );

  it.skipIf(!hasPip)(
    'an agent that never built the key builds it when an instance binds, and the function imports the package from /code (code over deps)',
    async () => {
      const files = { 'requirements.txt': 'floe-hello==1.0\n' };
      const spec = depsSpec('python', files)!;
      const src = fs.mkdtempSync(path.join(dir, 'src-'));
      fs.writeFileSync(path.join(src, 'requirements.txt'), files['requirements.txt']);
      fs.writeFileSync(
        path.join(src, 'handler.py'),
        "import floe_hello\n\ndef handle(event, context):\n    return {'statusCode': 200, 'body': floe_hello.GREETING}\n",
      );
      const blob = execFileSync('tar', ['-C', src, '-cz', '.']);
      // Another agent: its own layer store, which has never seen the key.
      const otherRootfs = await SnapshotRootfs.open(path.join(dir, 'layers-other'));
      const other = new DepsBuilder({ ...opts(otherRootfs), workDir: path.join(dir, 'builds-other') });
      expect(await other.path(spec.key)).toBeUndefined();
      const channel = new ChannelServer(path.join(dir, 'run', 'agent.sock'));
      await channel.listen();
      const instancesDir = path.join(dir, 'instances');
      fs.mkdirSync(instancesDir, { recursive: true });
      const launcher = new ContainerLauncher({
        runtime,
        rootfs: otherRootfs,
        mounts,
        channel,
        logs: new LogStore(path.join(dir, 'logs')),
        sources: {
          code: async () => blob,
          secrets: async () => ({}),
          deps: async (key) => {
            expect(key).toBe(spec.key);
            return spec.files;
          },
        },
        instancesDir,
        watchdogPath: ensureWatchdog(),
        writableBytes: 16 << 20,
        startTimeoutMs: 15_000,
        userns,
        deps: other,
      });
      const pool = new Pool(launcher, {
        capacityBytes: 512 << 20,
        pauseGraceMs: 20,
        keepAliveMs: 60_000,
        reclaimAfterMs: 60_000,
        stemcellBytes: 64 << 20,
        stemcells: {},
      });
      const version: FunctionVersion = {
        name: 'greet',
        namespace: 'ns',
        version: 1,
        createdAt: '',
        deployment: { service: 'greet' },
        runtime: 'python',
        image: 'floe/python:latest',
        codeDigest: createHash('sha256').update(blob).digest('hex'),
        depsKey: spec.key,
        handler: 'handler.handle',
        memoryBytes: 64 << 20,
        timeoutMs: 10_000,
        maxConcurrency: 1,
        minScale: 0,
        maxScale: 1,
        env: {},
        secrets: [],
      };
      try {
        const res = await pool.invoke(
          version,
          { callId: 'c', method: 'GET', path: '/', query: '', headers: {} },
          Buffer.alloc(0),
        );
        expect(res.body.toString()).toBe('hello from a wheel');
        expect(await other.path(spec.key)).toBeDefined();
      } finally {
        await pool.close();
        await channel.close();
      }
      expect(mountsUnder(instancesDir)).toEqual([]);
    },
    180_000,
  );

  it.skipIf(!hasPip)(
    'an install that writes more than FLOE_BUILD_WRITABLE fails with 422 (no space left): it is written to capped tmpfs, not the host disk',
    async () => {
      // 8 MiB of source that compresses to a tiny wheel: cheap to serve, big once installed.
      const big = await servePipIndex([
        { name: 'floe-big', version: '1.0', module: 'floe_big', body: `X = "${'a'.repeat(8 << 20)}"\n` },
      ]);
      const small = new DepsBuilder({
        ...opts(rootfs),
        workDir: path.join(dir, 'builds-small'),
        writableBytes: 4 << 20,
        installer: { pipIndexUrl: big.url(gateway) },
      });
      try {
        const spec = depsSpec('python', { 'requirements.txt': 'floe-big==1.0\n' })!;
        const err = await small
          .ensure({ runtime: 'python', key: spec.key, files: spec.files })
          .catch((e) => e);
        expect(err).toBeInstanceOf(BuildFailedError);
        expect(err.message).toMatch(/No space left on device/);
        expect(await small.path(spec.key)).toBeUndefined();
        expect(mountsUnder(path.join(dir, 'builds-small'))).toEqual([]);
      } finally {
        await big.close();
      }
    },
    120_000,
  );

  it("refuses a key that is not the lockfile's", async () => {
    const spec = depsSpec('python', { 'requirements.txt': 'a\n' })!;
    await expect(
      builder.ensure({ runtime: 'python', key: `sha256:${'0'.repeat(64)}`, files: spec.files }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it.skipIf(!hasNpm || !online)(
    'npm ci --omit=dev installs a package-lock.json from the npm registry through NAT',
    async () => {
      const pkg = { name: 'f', version: '1.0.0', dependencies: { 'is-number': '7.0.0' } };
      const lock = {
        name: 'f',
        version: '1.0.0',
        lockfileVersion: 3,
        requires: true,
        packages: {
          '': { name: 'f', version: '1.0.0', dependencies: { 'is-number': '7.0.0' } },
          'node_modules/is-number': {
            version: '7.0.0',
            resolved: 'https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz',
            integrity:
              'sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==',
            engines: { node: '>=0.12.0' },
          },
        },
      };
      const spec = depsSpec('node', {
        'package.json': JSON.stringify(pkg),
        'package-lock.json': JSON.stringify(lock),
      })!;
      const lines: string[] = [];
      const r = await builder.ensure({ runtime: 'node', key: spec.key, files: spec.files }, (l) =>
        lines.push(l),
      );
      expect(r.cached).toBe(false);
      expect(lines.join('\n')).toMatch(/added 1 package/);
      expect(fs.existsSync(path.join(r.path, 'node_modules', 'is-number', 'index.js'))).toBe(true);
      await expectNoBuildLeft();
    },
    180_000,
  );

  it('GC drops the layers of keys no version uses, and keeps the others', async () => {
    const keys = await builder.keys();
    if (keys.length === 0) return;
    const [drop, ...keep] = keys;
    const dropPath = await builder.path(drop!);
    expect(await builder.gc(async (k) => k !== drop, 0)).toEqual([drop]);
    expect(await builder.path(drop!)).toBeUndefined();
    expect(fs.existsSync(dropPath!)).toBe(false);
    for (const k of keep) expect(await builder.path(k)).toBeDefined();
  });
});
