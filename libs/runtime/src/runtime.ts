import fs from 'node:fs';
import path from 'node:path';
import { AlreadyExistsError, InvalidArgumentError, StartupError } from '@floe/contracts';
import { type CgroupDriver, ContainerCgroup, type FreezerChoice } from './cgroups/container-cgroup.js';
import { detectCgroups } from './cgroups/detect.js';
import { type DynmodsOutcome, favorDynmods } from './cgroups/dynmods.js';
import type { CgroupInfo, CgroupResources } from './cgroups/types.js';
import { type Container, ContainerImpl } from './container.js';
import { DetachedContainer } from './detached-container.js';
import { BridgeNetwork, type BridgeOptions, type ContainerNet } from './net/bridge.js';
import { Reaper } from './reaper.js';
import { buildDefaultSeccomp, compileSeccomp } from './seccomp/bpf.js';
import { planSpawn } from './spawn/plan.js';
import { StatusPipe } from './spawn/status-pipe.js';
import type { CreateOptions, IdMapping, OciConfig } from './spec/types.js';
import { validateConfig } from './spec/validate.js';
import { type ContainerState, type PersistedState, procStartTime, StateStore } from './state-store.js';
import { NativeSyscalls } from './sys/ffi.js';
import { writeFile, writeFileAsync } from './sys/fs-errors.js';
import { ensureNative, INIT_BIN } from './sys/native.js';
import type { Syscalls } from './sys/syscalls.js';

export interface RuntimeOptions {
  /** Root of persisted state: `<stateDir>/runtime/<id>/state.json`. */
  stateDir: string;
  /** Cgroup parent under every hierarchy; default `floe`. */
  cgroupParent?: string;
  cgroupDriver?: CgroupDriver;
  /** Which freezer on hybrid hosts; `auto` = v2 cgroup.freeze when a unified hierarchy exists. */
  freezer?: FreezerChoice;
  /**
   * Take the RCU grace period off v1 cgroup attaches (see `cgroups/dynmods.ts`). Host-wide and
   * lasting until reboot on Linux ≥ 6.18, so off unless asked (the node-agent asks).
   */
  favorDynmods?: boolean;
  /** Host bridge for `network: 'bridge'` (default floe0, 10.88.0.0/16). */
  bridge?: BridgeOptions;
  /** The FFI surface; defaults to the koffi-backed shim. */
  syscalls?: Syscalls;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const SIGKILL = 9;

/**
 * Creates, supervises and deletes containers in-process. One instance per process; several
 * instances may share a state dir only if they use distinct container ids.
 */
export class Runtime {
  private readonly containers = new Map<string, ContainerImpl>();
  private readonly store: StateStore;
  private readonly stateDir: string;
  private readonly sys: Syscalls;
  private readonly reaper: Reaper;
  private readonly parent: string;
  private readonly driver: CgroupDriver;
  private readonly freezer: FreezerChoice;
  readonly cgroups: CgroupInfo;
  /** What `favorDynmods` did, when asked for. */
  readonly dynmods?: DynmodsOutcome;
  private initFd = -1;
  private bridgeNet?: BridgeNetwork;
  private readonly bridgeOpts?: BridgeOptions;

  /** Created on first use of `network: 'bridge'`. */
  get bridge(): BridgeNetwork {
    this.bridgeNet ??= new BridgeNetwork(this.sys, this.stateDir, this.bridgeOpts);
    return this.bridgeNet;
  }

  constructor(opts: RuntimeOptions) {
    this.store = new StateStore(opts.stateDir);
    this.stateDir = opts.stateDir;
    this.bridgeOpts = opts.bridge;
    this.sys = opts.syscalls ?? new NativeSyscalls();
    this.reaper = Reaper.shared(this.sys);
    this.parent = opts.cgroupParent ?? 'floe';
    if (this.parent.split('/').includes('..'))
      throw new InvalidArgumentError('cgroupParent', 'must not contain ..');
    this.driver = opts.cgroupDriver ?? 'auto';
    this.freezer = opts.freezer ?? 'auto';
    this.cgroups = detectCgroups();
    if (opts.favorDynmods) {
      fs.mkdirSync(this.stateDir, { recursive: true });
      this.dynmods = favorDynmods(this.sys, this.cgroups, this.stateDir);
    }
  }

  /** Creates a container whose init waits before exec until `start()`. */
  create(id: string, config: OciConfig, opts: CreateOptions = {}): Promise<Container> {
    return this.spawn(id, config, opts, false);
  }

  /** create + start in one round trip. */
  run(id: string, config: OciConfig, opts: CreateOptions = {}): Promise<Container> {
    return this.spawn(id, config, opts, true);
  }

  get(id: string): Container | undefined {
    return this.containers.get(id);
  }

  private getInitFd(): number {
    if (this.initFd < 0) {
      ensureNative();
      this.initFd = fs.openSync(INIT_BIN, 'r');
    }
    return this.initFd;
  }

  private async spawn(
    id: string,
    input: OciConfig,
    opts: CreateOptions,
    autoStart: boolean,
  ): Promise<ContainerImpl> {
    if (!ID_RE.test(id)) throw new InvalidArgumentError('id', 'must match [A-Za-z0-9][A-Za-z0-9_.-]{0,127}');
    const config = validateConfig(input);
    const rootfs = path.resolve(config.root.path);
    if (!fs.statSync(rootfs, { throwIfNoEntry: false })?.isDirectory())
      throw new InvalidArgumentError('root.path', `rootfs ${rootfs} does not exist`);
    if (typeof opts.network === 'object' && !fs.existsSync(opts.network.netnsPath))
      throw new InvalidArgumentError('network.netnsPath', `${opts.network.netnsPath} does not exist`);
    const bridged = opts.network === 'bridge';
    if (bridged && !config.linux?.namespaces?.some((n) => n.type === 'network'))
      throw new InvalidArgumentError('network', 'bridge needs a network namespace in linux.namespaces');
    if (this.containers.has(id) || this.store.exists(id))
      throw new AlreadyExistsError(`container ${id} already exists`, { id });
    const seccomp = config.linux?.seccomp ? compileSeccomp(config.linux.seccomp) : buildDefaultSeccomp();
    const execFifoPath = opts.execFifo ? path.join(this.store.containerDir(id), 'exec.fifo') : undefined;
    const rel = (config.linux?.cgroupsPath ?? id).replace(/^\/+/, '');
    const resources = toResources(config);

    const undo: (() => unknown)[] = [];
    try {
      try {
        this.store.reserve(id);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST')
          throw new AlreadyExistsError(`container ${id} already exists`, { id });
        throw err;
      }
      undo.push(() => this.store.remove(id));
      if (execFifoPath) this.sys.mkfifo(execFifoPath, 0o600);
      let net: ContainerNet | undefined;
      let ip: string | undefined;
      if (bridged) {
        ip = this.bridge.lease(id);
        undo.push(() => this.bridge.detach(id, { ip: ip!, hostVeth: BridgeNetwork.vethName(id) }));
        net = { ip, prefix: 16, gateway: this.bridge.gateway, hostVeth: BridgeNetwork.vethName(id) };
      }
      const plan = planSpawn({
        config,
        opts,
        initFd: this.getInitFd(),
        seccomp,
        execFifoPath,
        net,
        autoStart: autoStart && !execFifoPath,
      });
      const program = plan.program.encode();
      const cg = new ContainerCgroup(this.cgroups, this.parent, rel, this.driver, this.freezer, resources);
      undo.push(() => cg.destroy());
      cg.create(resources);
      const c = new ContainerImpl(id, this.sys, cg);
      const cloneFd = cg.openCloneFd();
      let child: ReturnType<Syscalls['spawn']>;
      try {
        // vfork+exec; with a user namespace the shim writes its id maps during the spawn.
        const exec = { initFd: this.getInitFd(), keepFds: plan.keepFds };
        const l = config.linux;
        const idMaps = plan.namespaces.has('user')
          ? { uidMap: mapText(l!.uidMappings!), gidMap: mapText(l!.gidMappings!) }
          : undefined;
        child = this.sys.spawn(program, plan.cloneFlags, cloneFd, exec, idMaps);
      } finally {
        if (cloneFd >= 0) fs.closeSync(cloneFd);
      }
      c.attach({ ...child, status: new StatusPipe(child.statusFd), program: plan.program });
      this.containers.set(id, c);
      undo.push(async () => {
        this.containers.delete(id);
        c.statusPipe?.close();
        if (c.pidfd >= 0) {
          try {
            this.sys.pidfdSendSignal(c.pidfd, SIGKILL);
          } catch {}
        }
        await c.wait();
      });
      this.reaper.watch(child.pidfd, (e) => c.onExit(e));

      // Two-phase spawn: in a user namespace the child first waits for a byte (after its id maps). It then
      // sets up its mounts while we attach it to the v1 hierarchies and persist the state
      // (overlapping both costs), and execs only after the start byte, sent after attaching.
      try {
        await this.parentSetup(
          c,
          config,
          cg,
          plan.namespaces.has('user'),
          bridged ? { ip: ip!, net: net! } : undefined,
        );
      } catch (err) {
        // A parent-side write fails with ESRCH/EINVAL/... when the child already died of a
        // failed setup op: kill it and prefer its own failure record, which names the op.
        try {
          this.sys.pidfdSendSignal(c.pidfd, SIGKILL);
        } catch {}
        const ev = await c.statusPipe!.next();
        throw ev.kind === 'failed' ? c.opError(ev.index, ev.errno) : err;
      }
      if (autoStart) c.release(1);
      this.persist(c, rootfs, autoStart ? 'running' : 'created');
      c.onStarted = () => this.persist(c, rootfs, 'running');
      c.execFifo = execFifoPath;
      if (plan.readyRecord) {
        const ev = await c.statusPipe!.next();
        if (ev.kind === 'failed') throw c.opError(ev.index, ev.errno);
        if (ev.kind === 'eof')
          throw new StartupError(`create container ${id}: init died during setup`, 'platform');
        if (c.status === 'creating') c.machine.transition('created');
        if (!autoStart) return c;
        await c.awaitExec();
      } else {
        // run: EOF means execveat succeeded (a death without a record shows up as the exit).
        await c.awaitExec();
        if (c.status === 'creating') c.machine.transition('created');
      }
      c.markRunning();
      return c;
    } catch (err) {
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch {}
      }
      throw err;
    }
  }

  /** Parent side of the two-phase spawn, while the child waits or sets itself up. */
  private async parentSetup(
    c: ContainerImpl,
    config: OciConfig,
    cg: ContainerCgroup,
    userns: boolean,
    bridge?: { ip: string; net: ContainerNet },
  ): Promise<void> {
    // The shim wrote the id maps during the spawn; the program's first wait was for them.
    if (userns) c.release(1);
    // From the parent only for a user namespace: such a child turns non-dumpable and can no
    // longer open its /proc files (otherwise a WRITE_FILE op in the program sets it).
    if (userns && config.process.oomScoreAdj !== undefined)
      writeFile(`/proc/${c.pid}/oom_score_adj`, String(config.process.oomScoreAdj), 'set oom_score_adj');
    // On libuv's pool, all at once: a v1 attach can wait out an RCU grace period (tens of ms
    // after idle), which must not stall the agent's loop, and the waits overlap.
    await Promise.all(cg.attachFiles().map((f) => writeFileAsync(f, String(c.pid), 'attach to cgroup')));
    // The veth peer must exist in the child's netns before it runs NET_CONFIG after start.
    if (bridge) {
      this.bridge.attach(c.id, c.pid, bridge.ip);
      c.network = bridge.net;
    }
  }

  /**
   * Persists what a restarted process needs. Written once per create; `stopped` and `paused`
   * are derived on load from the pid's start time and the freezer, so exits cost no write.
   */
  private persist(c: ContainerImpl, rootfs: string, status: 'created' | 'running' = 'created'): void {
    const s: PersistedState = {
      id: c.id,
      pid: c.pid,
      startTime: procStartTime(c.pid) ?? 0,
      status,
      rootfs,
      created: new Date().toISOString(),
      cgroup: { parent: this.parent, rel: c.cgroup.rel, driver: c.cgroup.mode, freezer: this.freezer },
      ownerPid: process.pid,
      network: c.network,
    };
    try {
      this.store.write(s);
    } catch {
      // Deleted concurrently: the state dir is gone on purpose.
    }
  }

  /** Containers found in the state dir, with their live status. */
  async list(): Promise<ContainerState[]> {
    const out: ContainerState[] = [];
    for (const id of this.store.ids()) {
      const s = await this.load(id);
      if (s) out.push(s);
    }
    return out;
  }

  /** One container's persisted state; `pid` + start time tell a live init from a reused pid. */
  async load(id: string): Promise<ContainerState | undefined> {
    const s = this.store.read(id);
    if (!s) return undefined;
    const live = this.containers.get(id);
    let status = live?.status ?? s.status;
    if (!live && status !== 'stopped') {
      if (procStartTime(s.pid) !== s.startTime) status = 'stopped';
      else {
        try {
          const cg = new ContainerCgroup(
            this.cgroups,
            s.cgroup.parent,
            s.cgroup.rel,
            s.cgroup.driver,
            s.cgroup.freezer,
          );
          if (cg.freezer.isFrozen()) status = 'paused';
          cg.freezer.close();
        } catch {}
      }
    }
    return { ...s, status, ociVersion: '1.0.2' };
  }

  /** Idempotent: kills every process, removes cgroups and state; works for another process's containers. */
  async delete(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c) {
      if (c.status !== 'stopped' && c.status !== 'deleted') {
        try {
          if (c.cgroup.freezer.isFrozen()) await c.cgroup.freezer.thaw();
        } catch {}
        try {
          if (c.pidfd >= 0) this.sys.pidfdSendSignal(c.pidfd, SIGKILL);
        } catch {}
        try {
          await c.cgroup.killAll();
        } catch {}
        await c.wait();
      }
      c.statusPipe?.close();
      await c.cgroup.destroy();
      if (c.network) this.bridge.detach(id, c.network);
      this.store.remove(id);
      if (c.status !== 'deleted') c.machine.transition('deleted');
      this.containers.delete(id);
      return;
    }
    const saved = this.store.read(id);
    if (saved) {
      await DetachedContainer.open(id, this.store, this.sys, this.cgroups).destroy();
      if (saved.network) this.bridge.detach(id, saved.network);
    }
    this.store.remove(id);
  }

  /** Starts a created container, also one created by another process (through exec.fifo). */
  async start(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c) return c.start();
    DetachedContainer.open(id, this.store, this.sys, this.cgroups).start();
  }

  async pause(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c) return c.freeze();
    await DetachedContainer.open(id, this.store, this.sys, this.cgroups).freeze();
  }

  async resume(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c) return c.thaw();
    await DetachedContainer.open(id, this.store, this.sys, this.cgroups).thaw();
  }

  async kill(id: string, signal: NodeJS.Signals | number = 'SIGTERM'): Promise<void> {
    const c = this.containers.get(id);
    if (c) return c.kill(signal);
    DetachedContainer.open(id, this.store, this.sys, this.cgroups).kill(signal);
  }

  /** Closes runtime-wide fds (floe-init). Containers keep running. */
  close(): void {
    if (this.initFd >= 0) fs.closeSync(this.initFd);
    this.bridgeNet?.close();
    this.bridgeNet = undefined;
    this.initFd = -1;
  }
}

function mapText(maps: IdMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

function toResources(c: OciConfig): CgroupResources {
  const r = c.linux?.resources;
  return {
    memoryLimit: r?.memory?.limit,
    memoryReservation: r?.memory?.reservation,
    cpuQuota: r?.cpu?.quota,
    cpuPeriod: r?.cpu?.period,
    cpuShares: r?.cpu?.shares,
    pidsLimit: r?.pids?.limit,
  };
}
