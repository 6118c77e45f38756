import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import {
  type DepsBuildRequest,
  FailedPreconditionError,
  FloeError,
  InvalidArgumentError,
  NotFoundError,
} from '@floe/contracts';
import { depsSpec, type SnapshotService } from '@floe/overlay-snapshots';
import { defaultSpec, type ExitStatus, makePipe, type OciConfig, type Runtime } from '@floe/runtime';
import { RUNTIME_IMAGES } from './container-launcher.js';
import { BUILD_DIR, type InstallerSettings, installerCommand, Tail } from './deps-installer.js';
import type { HostMounts } from './ports.js';
import { mountPoints } from './recovery.js';
import type { UserNamespaces } from './user-namespaces.js';

const run = promisify(execFile);
const LEASE = 'deps/';

export interface DepsBuilderOptions {
  runtime: Runtime;
  service: SnapshotService;
  /** Per-build scratch dirs: `<workDir>/<build id>`; emptied at start (a crash leaves them). */
  workDir: string;
  userns?: UserNamespaces;
  /** cgroup memory limit of the sandbox (FLOE_BUILD_MEMORY). */
  memoryBytes: number;
  /** The install is killed after this (FLOE_BUILD_TIMEOUT_MS). */
  timeoutMs: number;
  /**
   * tmpfs cap of the sandbox's writable rootfs layer (npm's cache, pip's temp files) and of its
   * build dir (the installed tree): an install cannot fill the host's disk.
   */
  writableBytes: number;
  /** Host mounts for the build dir's tmpfs. */
  mounts: Pick<HostMounts, 'tmpfs' | 'detach'>;
  /** `bridge`: own netns, veth on the runtime's bridge, NAT out (the default); `none`: offline. */
  network: 'bridge' | 'none';
  installer: InstallerSettings;
  /** In-sandbox paths of the base images' interpreters. */
  bins?: { node: string; python: string };
}

/** Thrown for an install that failed: the deploy answers 422 with these last lines. */
export class BuildFailedError extends FloeError {
  constructor(message: string, tail: string) {
    super('FAILED_PRECONDITION', tail ? `${message}:\n${tail}` : message, {
      fault: 'user',
      details: { httpStatus: 422, field: 'dependencies', tail },
    });
  }
}

/**
 * Dependencies layers: `npm ci` / `pip install` run once per key (runtime + lockfile hash) in
 * a build sandbox, a real container like a function's (own user namespace, cgroup memory and
 * pids limits, the runtime's base image), whose only writable host dir is its build dir. The
 * installed tree is imported into the layer store as a code-like layer (root-owned, checked
 * like any archive) and leased `deps/<key>`, which is how it survives restarts and what GC
 * keeps. One build per key at a time; a failed one leaves no layer and no lease.
 */
export class DepsBuilder {
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly bins: { node: string; python: string };

  constructor(private readonly o: DepsBuilderOptions) {
    this.bins = o.bins ?? { node: fs.realpathSync(process.execPath), python: '/usr/bin/python3.11' };
    // A crash leaves build dirs mounted; unmount them before their dirs go.
    const under = `${path.resolve(o.workDir)}/`;
    for (const m of mountPoints()
      .filter((p) => p.startsWith(under))
      .reverse())
      o.mounts.detach(m);
    fs.rmSync(o.workDir, { recursive: true, force: true });
    fs.mkdirSync(o.workDir, { recursive: true, mode: 0o711 });
  }

  /** The layer dir of `key` on this agent, if it was built (or fetched) here. */
  async path(key: string): Promise<string | undefined> {
    const lease = await this.o.service.leases.get(LEASE + key);
    const diffID = lease?.digests[0];
    return diffID && this.o.service.layers.has(diffID) ? this.o.service.layers.path(diffID) : undefined;
  }

  /** Keys this agent holds a layer for. */
  async keys(): Promise<string[]> {
    return (await this.o.service.leases.list())
      .filter((l) => l.id.startsWith(LEASE))
      .map((l) => l.id.slice(LEASE.length));
  }

  /**
   * The layer for `req`, built if missing. `cached` says nothing was installed. `onLine` gets
   * the installer's output lines as they come.
   */
  async ensure(
    req: DepsBuildRequest,
    onLine: (line: string) => void = () => {},
  ): Promise<{ path: string; cached: boolean }> {
    const have = await this.path(req.key);
    if (have) return { path: have, cached: true };
    let p = this.inflight.get(req.key);
    let cached = true;
    if (!p) {
      cached = false;
      p = this.build(req, onLine).finally(() => this.inflight.delete(req.key));
      this.inflight.set(req.key, p);
    }
    return { path: await p, cached };
  }

  /**
   * Drops the layers of keys `live` says no function version uses any more: their lease
   * goes, then the store's GC removes what nothing else holds.
   */
  async gc(live: (key: string) => Promise<boolean>, graceMs?: number): Promise<string[]> {
    const dropped: string[] = [];
    for (const key of await this.keys()) {
      if (this.inflight.has(key) || (await live(key))) continue;
      await this.o.service.leases.releaseLease(LEASE + key).catch(() => {});
      dropped.push(key);
    }
    if (dropped.length) await this.o.service.gc(graceMs === undefined ? {} : { graceMs });
    return dropped;
  }

  private async build(req: DepsBuildRequest, onLine: (line: string) => void): Promise<string> {
    const spec = depsSpec(req.runtime, req.files ?? {});
    if (!spec) throw new InvalidArgumentError('dependencies', `no ${req.runtime} manifest to install from`);
    if (spec.key !== req.key)
      throw new InvalidArgumentError(
        'dependencies',
        `key ${req.key} does not match the lockfile (${spec.key})`,
      );
    const cmd = installerCommand(spec.runtime, this.o.installer, this.bins);
    const id = `floe-build-${randomBytes(6).toString('hex')}`;
    const work = path.join(this.o.workDir, id);
    const build = path.join(work, 'build');
    const rootfs = path.join(work, 'rootfs');
    const undo: Array<() => unknown> = [() => rm(work, { recursive: true, force: true })];
    const tail = new Tail();
    const line = (l: string) => {
      tail.push(l);
      onLine(l);
    };
    try {
      await mkdir(build, { recursive: true });
      await mkdir(rootfs, { recursive: true });
      this.o.mounts.tmpfs(build, this.o.writableBytes);
      undo.push(() => this.o.mounts.detach(build));
      for (const [name, body] of Object.entries(spec.files)) await writeFile(path.join(build, name), body);
      const image = await this.o.service.resolveImage(RUNTIME_IMAGES[spec.runtime]);
      if (!image)
        throw new NotFoundError(`dependencies: base image ${RUNTIME_IMAGES[spec.runtime]} is missing`);
      let mounts = await this.o.service.rootfsFor(id, image.layers, { sizeLimitBytes: this.o.writableBytes });
      undo.push(() => this.o.service.release(id));
      const config = this.config(rootfs, build, cmd);
      const userns = this.o.userns;
      if (userns) {
        const range = userns.acquire();
        undo.push(() => userns.release(range));
        mounts = userns.rootfsMounts(range, mounts);
        for (const p of [build, rootfs]) userns.searchable(p);
        // The sandbox's root is an unprivileged host id: it owns the build dir, nothing else.
        await chownTree(build, range.hostBase);
        config.linux = {
          ...config.linux,
          namespaces: [...(config.linux?.namespaces ?? []), { type: 'user' }],
          ...userns.mappings(range),
        };
      }
      if (this.o.network === 'bridge') enableForwarding();
      line(`${cmd.label} (${spec.lockfile} ${spec.key.slice(7, 19)})`);
      const status = await this.runSandbox(id, config, mounts, line, undo);
      if (status.reason !== 'exited' || status.code !== 0)
        throw new BuildFailedError(
          `dependencies: ${cmd.label} failed (${describe(status, this.o)})`,
          tail.text(),
        );
      // On the host's disk, not the tmpfs: the tar is as big as the tree, and both are bounded.
      const tar = path.join(work, 'layer.tar');
      const out = path.join(build, cmd.output);
      if (cmd.outputName) {
        await mkdir(out, { recursive: true });
        await run('tar', ['-C', build, '-cf', tar, '--numeric-owner', cmd.outputName]);
      } else {
        await mkdir(out, { recursive: true });
        await run('tar', ['-C', out, '-cf', tar, '--numeric-owner', '.']);
      }
      const layer = await this.o.service.importCode(tar, {
        format: 'tar',
        leaseId: LEASE + spec.key,
        durable: true,
      });
      const files = (await readdir(out)).length;
      line(`dependencies: layer ${layer.diffID.slice(7, 19)} (${files} top-level entries)`);
      return layer.path;
    } catch (err) {
      if (err instanceof FloeError) throw err;
      throw new FloeError('INTERNAL', `dependencies: build ${id}: ${(err as Error).message}`, { cause: err });
    } finally {
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch {}
      }
    }
  }

  private config(rootfs: string, build: string, cmd: ReturnType<typeof installerCommand>): OciConfig {
    const config = defaultSpec({
      rootfs,
      args: cmd.args,
      env: cmd.env,
      cwd: BUILD_DIR,
      hostname: 'floe-build',
    });
    config.linux = {
      ...config.linux,
      resources: { memory: { limit: this.o.memoryBytes }, pids: { limit: 1024 } },
    };
    if (this.o.network === 'none')
      config.linux.namespaces = config.linux.namespaces?.filter((n) => n.type !== 'network');
    const ro = ['rbind', 'ro', 'nosuid', 'nodev'];
    config.mounts = [
      ...(config.mounts ?? []),
      { destination: BUILD_DIR, type: 'bind', source: build, options: ['rbind', 'rw', 'nosuid', 'nodev'] },
      ...cmd.binds.map((b) => ({
        destination: b.destination,
        type: 'bind',
        source: b.source,
        options: fs.statSync(b.source).isDirectory() ? ro : ['bind', 'ro', 'nosuid', 'nodev'],
      })),
      ...['/etc/resolv.conf', '/etc/hosts']
        .filter((f) => fs.existsSync(f))
        .map((f) => ({
          destination: f,
          type: 'bind',
          source: f,
          options: ['bind', 'ro', 'nosuid', 'nodev'],
        })),
    ];
    return config;
  }

  private async runSandbox(
    id: string,
    config: OciConfig,
    rootfsMounts: Awaited<ReturnType<SnapshotService['rootfsFor']>>,
    line: (l: string) => void,
    undo: Array<() => unknown>,
  ): Promise<ExitStatus> {
    const out = makePipe();
    let container: Awaited<ReturnType<Runtime['run']>>;
    try {
      container = await this.o.runtime.run(id, config, {
        rootfsMounts,
        stdio: { stdout: out.write, stderr: out.write },
        ...(this.o.network === 'bridge' ? { network: 'bridge' as const } : {}),
      });
    } finally {
      fs.closeSync(out.write);
    }
    undo.push(() => this.o.runtime.delete(id));
    const sock = new net.Socket({ fd: out.read, readable: true, writable: false });
    const lines = createInterface({ input: sock, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', (l) => line(l.slice(0, 2000)));
    const drained = new Promise<void>((r) => lines.once('close', () => r()));
    const timer = setTimeout(
      () => void container.kill('SIGKILL', { reason: 'timeout' }).catch(() => {}),
      this.o.timeoutMs,
    );
    try {
      const status = await container.wait();
      // The pipe ends when the last process holding it exits; a straggler cannot hold the build.
      await Promise.race([drained, new Promise((r) => setTimeout(r, 2000))]);
      return status;
    } finally {
      clearTimeout(timer);
      sock.destroy();
    }
  }
}

function describe(s: ExitStatus, o: DepsBuilderOptions): string {
  if (s.reason === 'exited') return `exit ${s.code}`;
  if (s.reason === 'timeout')
    return `killed after ${Math.round(o.timeoutMs / 1000)} s, FLOE_BUILD_TIMEOUT_MS`;
  if (s.reason === 'OOMKilled') return `out of memory at ${o.memoryBytes >> 20} MiB, FLOE_BUILD_MEMORY`;
  return `signal ${s.signal}`;
}

async function chownTree(dir: string, id: number): Promise<void> {
  await chown(dir, id, id);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, id);
    else await chown(p, id, id);
  }
}

/** NAT out of the bridge needs forwarding; another process may have turned it off since. */
function enableForwarding(): void {
  const f = '/proc/sys/net/ipv4/ip_forward';
  try {
    if (fs.readFileSync(f, 'utf8').trim() !== '1') fs.writeFileSync(f, '1');
  } catch (err) {
    throw new FailedPreconditionError(
      `dependencies: cannot enable ${f} for the build network: ${(err as Error).message}`,
    );
  }
}
