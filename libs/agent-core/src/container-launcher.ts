import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, rmSync } from 'node:fs';
import { chown, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { FloeError, type FunctionVersion, InvalidArgumentError, type RuntimeName } from '@floe/contracts';
import { type Container, defaultSpec, makePipe, type OciConfig, type Runtime } from '@floe/runtime';
import type { ChannelServer } from './channel-server.js';
import type { DepsBuilder } from './deps-builder.js';
import { imageProcess } from './image-process.js';
import { parseImageUser, resolveImageUser } from './image-user.js';
import type { ExitReason, InstanceBackend } from './instance.js';
import type { InstanceChannel, LoadRequest } from './instance-channel.js';
import type { LogStore } from './log-store.js';
import { bootstrapDir } from './native-build.js';
import type { Launcher, LaunchOptions } from './pool.js';
import type { FunctionSources, HostMounts, RootfsProvider } from './ports.js';
import { Sandboxes, type SandboxRuntime } from './sandboxes.js';
import type { IdRange, UserNamespaces } from './user-namespaces.js';

/** Base image per runtime; `image` functions bring their own. */
export const RUNTIME_IMAGES: Record<Exclude<RuntimeName, 'image'>, string> = {
  node: 'floe/node:latest',
  python: 'floe/python:latest',
  exec: 'floe/busybox:latest',
};

const NODE_BIN = '/usr/bin/node';
/** When the stock is topped up after a start from it that never served a call. */
const LATE_REFILL_MS = 1000;
const PYTHON_BIN = '/usr/bin/python3.11';
const SECRETS_DIR = '/var/openfaas/secrets';

export interface ContainerLauncherOptions {
  runtime: Runtime;
  rootfs: RootfsProvider;
  mounts: HostMounts;
  channel: ChannelServer;
  logs: LogStore;
  sources: FunctionSources;
  /** Per-instance host dirs live here: `<instancesDir>/<id>/{rootfs,code,secrets}`. */
  instancesDir: string;
  watchdogPath: string;
  /** Writable layer cap of every container (tmpfs upper). */
  writableBytes: number;
  startTimeoutMs: number;
  /** In-container path of the node binary, as laid out by the node base image. */
  nodeBin?: string;
  /**
   * Each container in a user namespace of its own id range (the default in the node-agent);
   * absent, functions run as host root (FLOE_USERNS=off).
   */
  userns?: UserNamespaces;
  /** Dependencies layers: a version with `depsKey` gets its code overlaid on one at /code. */
  deps?: DepsBuilder;
  /** Memory limit a prepared sandbox waits with; a start sets the function's own. */
  sandboxBytes?: number;
  events?: { error?(msg: string, err: unknown): void };
}

/** A container made up to its runtime's exec (prepared sandbox) or started. */
interface Made {
  id: string;
  token: string;
  container: Container;
  exited: Promise<ExitReason>;
  /** Its cgroup's memory limit now: the backend starts from it (reclaim and restore). */
  limitBytes: number;
  cleanup: Array<() => unknown>;
  /** The runtime's hello, expected before a `run`; a prepared sandbox expects it at start. */
  ready?: Promise<InstanceChannel>;
  started: boolean;
}

/**
 * Builds real containers for the pool: a rootfs from the layer store, the runtime's
 * bootstrap as the payload of floe-init, the agent's socket read-only at /run/floe, and a
 * shared mount point at /code onto which a function's code is bound at specialization,
 * propagating into the already running (frozen) container.
 */
export class ContainerLauncher implements Launcher {
  private readonly containers = new Map<string, Container>();
  /** Log labels per instance; a stemcell's change to its function's at specialization. */
  private readonly logMeta = new Map<string, { function: string; namespace: string; instance: string }>();
  /** Host id range per instance, with user namespaces on. */
  private readonly ranges = new Map<string, IdRange>();
  private sandboxes?: Sandboxes<Made>;
  /** Cold starts' binds begun while their runtime boots (`bindEarly`). */
  private readonly binding = new Map<
    string,
    { version: FunctionVersion; load: Promise<Omit<LoadRequest, 'name'>> }
  >();

  constructor(private readonly o: ContainerLauncherOptions) {
    // Checked at start: an agent that can't run a single function should not come up.
    if (o.userns)
      for (const p of [bootstrapDir, path.dirname(o.watchdogPath), o.channel.dir]) o.userns.searchable(p);
  }

  private dirOf(id: string) {
    const base = path.join(this.o.instancesDir, id);
    return {
      base,
      rootfs: path.join(base, 'rootfs'),
      code: path.join(base, 'code'),
      secrets: path.join(base, 'secrets'),
    };
  }

  /**
   * Starts the runtime in a prepared sandbox when one of its kind is ready (sandboxes.ts), else
   * makes the container now; either way resolves once the runtime connected.
   */
  async launch(opts: LaunchOptions): Promise<{ backend: InstanceBackend; channel: InstanceChannel }> {
    // A CPU quota is the version's own; a sandbox is made without one.
    const prepared = opts.version?.cpuMillis ? undefined : this.sandboxes?.take(opts.runtime);
    if (prepared) {
      try {
        return await this.startPrepared(prepared, opts);
      } catch (err) {
        // Its floe-init may have died while it waited: one fresh start, as without a stock.
        this.o.events?.error?.(`starting prepared sandbox ${prepared.id}`, err);
      } finally {
        // The pool tops the stock up after this start's first call (`refill`); this is for a
        // start that never got to one.
        setTimeout(() => void this.sandboxes?.fill(), LATE_REFILL_MS).unref();
      }
    }
    const made = await this.make(opts, true);
    this.bindEarly(made.id, opts.version);
    return this.connect(made, made.ready!);
  }

  /**
   * A cold start's code and secrets are bound while its runtime boots; `bind` then hands the
   * result over instead of binding again.
   */
  private bindEarly(id: string, version: FunctionVersion | undefined): void {
    if (!version) return;
    const load = this.bind(id, version);
    load.catch(() => {});
    this.binding.set(id, { version, load });
  }

  /** Makes sandboxes ahead, up to `targets` per runtime (FLOE_SANDBOXES); see sandboxes.ts. */
  prepareSandboxes(targets: Partial<Record<SandboxRuntime, number>>, idPrefix: string): Promise<void> {
    this.sandboxes ??= new Sandboxes<Made>(
      {
        prepare: (id, runtime) => this.prepareOne(id, runtime),
        discard: (m) => this.undo(m),
        error: (msg, err) => this.o.events?.error?.(msg, err),
      },
      targets,
      idPrefix,
    );
    return this.sandboxes.fill();
  }

  /**
   * Tops the sandbox stock up, on the next turn of the loop: the pool calls this once a cold
   * start's first call is answered, because a setup before would delay that very start.
   */
  refill(): void {
    if (this.sandboxes) setTimeout(() => void this.sandboxes?.fill(), 0).unref();
  }

  /** Prepared sandboxes ready per runtime, for the agent's gauges. */
  sandboxCount(runtime: SandboxRuntime): number {
    return this.sandboxes?.count(runtime) ?? 0;
  }

  /** Tears the prepared sandboxes down (the pool owns everything that was started). */
  async close(): Promise<void> {
    await this.sandboxes?.close();
  }

  private async prepareOne(id: string, runtime: SandboxRuntime): Promise<Made> {
    const m = await this.make({ id, runtime, memoryBytes: this.o.sandboxBytes ?? 256 * 1024 * 1024 }, false);
    // A sandbox whose floe-init dies while it waits (killed from outside) leaves the stock.
    void m.exited.then(() => {
      if (m.started) return;
      this.sandboxes?.remove(m);
      void this.undo(m).catch(() => {});
    });
    return m;
  }

  private async startPrepared(m: Made, opts: LaunchOptions) {
    m.started = true;
    const ready = this.o.channel.expect(m.token, this.o.startTimeoutMs);
    ready.catch(() => {});
    try {
      await m.container.setMemoryLimit(opts.memoryBytes);
      m.limitBytes = opts.memoryBytes;
      const started = m.container.start();
      this.bindEarly(m.id, opts.version);
      await started;
    } catch (err) {
      this.o.channel.cancel(m.token, err as Error);
      await this.undo(m);
      throw err;
    }
    return this.connect(m, ready);
  }

  /**
   * Everything up to the runtime's exec: dirs, the code's shared mount point, the rootfs
   * snapshot, the spec, a user namespace's range, stdio captured into the log store. With
   * `start`, the runtime execs at once (and its hello is expected before), else floe-init
   * waits for `container.start()`.
   */
  private async make(opts: LaunchOptions, start: boolean): Promise<Made> {
    const d = this.dirOf(opts.id);
    const cleanup: Array<() => unknown> = [];
    const m: Partial<Made> = { id: opts.id, cleanup, started: start, limitBytes: opts.memoryBytes };
    try {
      for (const p of [d.rootfs, d.code, d.secrets]) mkdirSync(p, { recursive: true });
      cleanup.push(() => rmSync(d.base, { recursive: true, force: true }));
      chmodSync(d.secrets, 0o755);
      this.o.mounts.makeSharedPoint(d.code);
      cleanup.push(() => this.o.mounts.detach(d.code));

      const imageRef = opts.runtime === 'image' ? runRef(opts.version) : RUNTIME_IMAGES[opts.runtime];
      if (opts.runtime === 'image')
        await this.o.rootfs.ensureImage(imageRef, opts.version?.imageArchive, opts.version?.namespace);
      let rootfsMounts = await this.o.rootfs.rootfs(opts.id, imageRef, this.o.writableBytes);
      cleanup.push(() => this.o.rootfs.release(opts.id));

      // What the instance says in its hello on the agent's socket, which every container (and
      // any local user who reaches it) can connect to: a secret, not the guessable instance id,
      // so nobody else can answer in its place and be handed its calls.
      const token = randomBytes(16).toString('hex');
      m.token = token;
      // A stemcell (started with no function) warms its runtime up while it has time to.
      const config = await this.spec(opts, d, token, start && !opts.version);
      const userns = this.o.userns;
      if (userns) {
        const range = userns.acquire();
        this.ranges.set(opts.id, range);
        cleanup.push(() => {
          this.ranges.delete(opts.id);
          userns.release(range);
        });
        rootfsMounts = userns.rootfsMounts(range, rootfsMounts);
        this.searchableHostPaths(userns, d);
        config.linux = {
          ...config.linux,
          namespaces: [...(config.linux?.namespaces ?? []), { type: 'user' }],
          ...userns.mappings(range),
        };
      }
      const out = makePipe();
      const err = makePipe();
      if (start) {
        m.ready = this.o.channel.expect(token, this.o.startTimeoutMs);
        m.ready.catch(() => {});
      }
      let container: Container;
      try {
        const createOpts = { rootfsMounts, stdio: { stdout: out.write, stderr: err.write } };
        container = start
          ? await this.o.runtime.run(opts.id, config, createOpts)
          : await this.o.runtime.create(opts.id, config, createOpts);
      } finally {
        // The child holds its own copies now; ours would keep the pipes open forever.
        closeQuietly(out.write);
        closeQuietly(err.write);
      }
      cleanup.push(() => this.o.runtime.delete(opts.id));
      this.containers.set(opts.id, container);
      m.container = container;
      const meta = {
        function: opts.version?.name ?? `(${opts.runtime} stemcell)`,
        namespace: opts.version?.namespace ?? '-',
        instance: opts.id,
      };
      this.logMeta.set(opts.id, meta);
      const stdout = new net.Socket({ fd: out.read, readable: true, writable: false });
      const stderr = new net.Socket({ fd: err.read, readable: true, writable: false });
      this.o.logs.capture(stdout, meta, 'stdout');
      this.o.logs.capture(stderr, meta, 'stderr');
      m.exited = container.wait() as Promise<ExitReason>;
      return m as Made;
    } catch (e) {
      if (m.token) this.o.channel.cancel(m.token, e as Error);
      await this.undo(m as Made);
      throw e;
    }
  }

  /** Waits for the runtime's hello; a runtime that dies first fails the start with its exit. */
  private async connect(m: Made, ready: Promise<InstanceChannel>) {
    try {
      const channel = await Promise.race([
        ready,
        m.exited.then((e) => {
          throw new FloeError(
            'STARTUP',
            `instance ${m.id}: runtime exited before connecting (${JSON.stringify(e)})`,
            { fault: 'platform' },
          );
        }),
      ]);
      return { backend: this.backend(m.id, m.container, m.exited, m.limitBytes), channel };
    } catch (e) {
      this.o.channel.cancel(m.token, e as Error);
      await this.undo(m);
      throw e;
    }
  }

  private async undo(m: Made): Promise<void> {
    await this.settleEarlyBind(m.id);
    for (const undo of m.cleanup.splice(0).reverse()) {
      try {
        await undo();
      } catch {}
    }
    this.containers.delete(m.id);
    this.logMeta.delete(m.id);
  }

  /** An early bind still mounting must finish before the mount point goes, or its mount leaks. */
  private async settleEarlyBind(id: string): Promise<void> {
    const early = this.binding.get(id);
    this.binding.delete(id);
    await early?.load.catch(() => {});
  }

  private async spec(
    opts: LaunchOptions,
    d: ReturnType<ContainerLauncher['dirOf']>,
    token: string,
    stemcell: boolean,
  ): Promise<OciConfig> {
    const env = [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOME=/tmp',
      `FLOE_INSTANCE_TOKEN=${token}`,
      // Which instance this is (as in logs and metrics); naming it grants nothing.
      `FLOE_INSTANCE_ID=${opts.id}`,
      'FLOE_AGENT_SOCK=/run/floe/agent.sock',
    ];
    let args: string[];
    let cwd = '/';
    switch (opts.runtime) {
      case 'node':
        // One V8 worker instead of one per core: fewer threads to freeze, thaw and keep in memory.
        args = [this.o.nodeBin ?? NODE_BIN, '--v8-pool-size=1', '/floe/node-bootstrap.cjs'];
        env.push('NODE_ENV=production');
        if (stemcell) env.push('FLOE_WARM_UP=1');
        break;
      case 'python':
        args = [PYTHON_BIN, '-u', '/floe/python-bootstrap.py'];
        env.push('PYTHONDONTWRITEBYTECODE=1');
        break;
      default: {
        // The image's env reaches the function through `load` (image-process.ts), not the watchdog.
        args = ['/floe-bin/floe-watchdog'];
        const img =
          opts.runtime === 'image' ? await this.o.rootfs.imageConfig(runRef(opts.version)) : undefined;
        cwd = img?.workingDir || '/';
      }
    }
    const config = defaultSpec({ rootfs: d.rootfs, args, env, cwd, hostname: 'floe' });
    const memory = opts.memoryBytes;
    config.linux = {
      ...config.linux,
      resources: {
        memory: { limit: memory },
        pids: { limit: 512 },
        ...(opts.version?.cpuMillis ? { cpu: { quota: opts.version.cpuMillis * 100, period: 100_000 } } : {}),
      },
    };
    config.mounts = [
      ...(config.mounts ?? []),
      {
        destination: '/floe',
        type: 'bind',
        source: bootstrapDir,
        options: ['rbind', 'ro', 'nosuid', 'nodev'],
      },
      {
        destination: '/floe-bin/floe-watchdog',
        type: 'bind',
        source: this.o.watchdogPath,
        options: ['bind', 'ro', 'nosuid', 'nodev'],
      },
      {
        destination: '/run/floe',
        type: 'bind',
        source: this.o.channel.dir,
        options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'],
      },
      // rslave: the code bound later onto the host's shared point propagates in here.
      {
        destination: '/code',
        type: 'bind',
        source: d.code,
        options: ['rbind', 'ro', 'nosuid', 'nodev', 'rslave'],
      },
      {
        destination: SECRETS_DIR,
        type: 'bind',
        source: d.secrets,
        options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'],
      },
    ];
    return config;
  }

  /** Mount sources the container's root (an unmapped host id) must reach through their parents. */
  private searchableHostPaths(userns: UserNamespaces, d: ReturnType<ContainerLauncher['dirOf']>): void {
    for (const p of [d.rootfs, d.code, d.secrets]) userns.searchable(p);
  }

  /**
   * Secrets are the function user's only (0400): owned by the image's `User` (root for the
   * runtimes' base images), as the host sees that id through the instance's range.
   */
  private async secretOwner(
    instanceId: string,
    version: FunctionVersion,
  ): Promise<{ uid: number; gid: number }> {
    let user = { uid: 0, gid: 0 };
    if (version.runtime === 'image') {
      const spec = parseImageUser((await this.o.rootfs.imageConfig(runRef(version)))?.user);
      // From the image's layers, never through the running container's root (a link there
      // could point the agent at the host's files).
      const etc = async (f: string) => (await this.o.rootfs.imageFile?.(runRef(version), `etc/${f}`)) ?? '';
      user = resolveImageUser(spec, await etc('passwd'), await etc('group'));
    }
    const range = this.ranges.get(instanceId);
    if (!range) return user;
    // An id past the range would land in another instance's range on the host.
    if (user.uid >= range.size || user.gid >= range.size)
      throw new InvalidArgumentError(
        'image.User',
        `uid ${user.uid} / gid ${user.gid} is outside the ${range.size} ids mapped into a function (FLOE_USERNS_SIZE)`,
      );
    return { uid: range.hostBase + user.uid, gid: range.hostBase + user.gid };
  }

  async bind(instanceId: string, version: FunctionVersion): Promise<Omit<LoadRequest, 'name'>> {
    const early = this.binding.get(instanceId);
    if (early?.version === version) {
      this.binding.delete(instanceId);
      return early.load;
    }
    const d = this.dirOf(instanceId);
    const meta = this.logMeta.get(instanceId);
    if (meta) Object.assign(meta, { function: version.name, namespace: version.namespace });
    if (version.codeDigest) {
      const digest = version.codeDigest;
      const [tree, deps] = await Promise.all([
        this.o.rootfs.codeLayer(digest, () => this.o.sources.code(digest)),
        this.depsLayer(version),
      ]);
      if (deps) this.o.mounts.overlayReadonly([tree, deps], d.code);
      else this.o.mounts.bindReadonly(tree, d.code);
    }
    if (version.secrets.length) {
      const values = await this.o.sources.secrets(version.namespace, version.secrets);
      const owner = await this.secretOwner(instanceId, version);
      await Promise.all(
        Object.entries(values).map(async ([name, value]) => {
          const file = path.join(d.secrets, name);
          await writeFile(file, value, { mode: 0o400 });
          await chown(file, owner.uid, owner.gid);
        }),
      );
    }
    let handler = version.handler ?? '';
    if (version.runtime === 'node') handler ||= 'index.js';
    if (version.runtime === 'python') handler ||= 'handler.handle';
    if (version.runtime === 'exec') handler = version.handler || version.deployment.envProcess || 'cat';
    if (version.runtime === 'image') {
      const { mode: _, ...run } = imageProcess(version, await this.o.rootfs.imageConfig(runRef(version)));
      return { ...run, codeDir: '/code' };
    }
    return { handler, env: version.env, codeDir: '/code' };
  }

  /**
   * The version's dependencies layer on this agent: built here at deploy, or now, from the
   * lock files stored with the key, when this agent has not seen the key yet.
   */
  private async depsLayer(version: FunctionVersion): Promise<string | undefined> {
    const key = version.depsKey;
    if (!key) return undefined;
    if (!this.o.deps || !this.o.sources.deps)
      throw new FloeError(
        'FAILED_PRECONDITION',
        `${version.name}: this agent cannot build dependencies layers`,
      );
    const have = await this.o.deps.path(key);
    if (have) return have;
    const files = await this.o.sources.deps(key);
    const runtime = version.runtime === 'python' ? 'python' : 'node';
    const r = await this.o.deps.ensure({ runtime, key, files });
    return r.path;
  }

  async release(instanceId: string): Promise<void> {
    const d = this.dirOf(instanceId);
    await this.settleEarlyBind(instanceId);
    this.containers.delete(instanceId);
    this.logMeta.delete(instanceId);
    const range = this.ranges.get(instanceId);
    this.ranges.delete(instanceId);
    if (range) this.o.userns?.release(range);
    this.o.mounts.detach(d.code);
    await this.o.rootfs.release(instanceId);
    await rm(d.base, { recursive: true, force: true });
  }

  private backend(
    id: string,
    c: Container,
    exited: Promise<ExitReason>,
    limitBytes: number,
  ): InstanceBackend {
    const runtime = this.o.runtime;
    let limit = limitBytes;
    return {
      id,
      exited,
      freeze: () => c.freeze(),
      thaw: () => c.thaw(),
      thawSync: () => c.thawSync(),
      async destroy(reason) {
        if (reason === 'timeout') await c.kill('SIGKILL', { reason: 'timeout' }).catch(() => {});
        await runtime.delete(id);
      },
      async memoryUsage() {
        const s = await c.stats();
        return {
          bytes: s.memoryBytes,
          peakBytes: s.memoryPeakBytes,
          nrThrottled: s.nrThrottled,
          oomKills: s.oomKills,
        };
      },
      async setMemoryLimit(bytes) {
        limit = bytes === 'max' ? 0 : bytes;
        await c.setMemoryLimit(bytes);
      },
      // A frozen instance's limit drops to what it uses, so the kernel reclaims its page
      // cache now rather than under pressure; the limit comes back before the thaw.
      async reclaim() {
        const s = await c.stats();
        const target = Math.max(Math.ceil(s.memoryBytes / 1048576) * 1048576, 8 * 1048576);
        if (limit && target < limit) await c.setMemoryLimit(target).catch(() => {});
      },
      async restore() {
        if (limit) await c.setMemoryLimit(limit);
      },
    };
  }
}

function closeQuietly(fd: number) {
  try {
    closeSync(fd);
  } catch {}
}

/** The image a version runs: the digest pinned at deploy when it came from a registry. */
function runRef(version: FunctionVersion | undefined): string {
  return version?.imagePinned ?? version?.image ?? '';
}
