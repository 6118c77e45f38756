import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError } from '@floe/contracts';
import type { Syscalls } from '../sys/syscalls.js';
import { installMasquerade, removeMasquerade } from './nat.js';
import { Netlink } from './netlink.js';

export interface BridgeOptions {
  /** Host bridge name (default `floe0`). */
  name?: string;
  /** /16 subnet base; the bridge gets .0.1 (default `10.88.0.0`). */
  subnet?: string;
  /** Masquerade egress through nf_tables (default true). */
  nat?: boolean;
  /**
   * Address leases (default `<stateDir>/ipam/<name>`). Runtimes with different state dirs that
   * share one bridge must share this too, or they hand out the same address.
   */
  ipamDir?: string;
}

export interface ContainerNet {
  ip: string;
  prefix: number;
  gateway: string;
  hostVeth: string;
}

/** An IPv4 address as the u32 that `struct in_addr` holds on this (little-endian) host. */
export function inAddr(ip: string): number {
  return Buffer.from(ip.split('.').map(Number)).readUInt32LE(0);
}

/**
 * Bridge networking: a host bridge with the pool's gateway address, and per container a
 * veth pair whose peer is created straight inside the container's netns as eth0. Addresses
 * are leased as files under `<stateDir>/ipam` (O_EXCL create), so leases survive restarts
 * and concurrent runtimes. Egress is masqueraded through nf_tables (see nat.ts).
 */
export class BridgeNetwork {
  readonly name: string;
  private readonly base: number[];
  private readonly ipamDir: string;
  private nl?: Netlink;
  private ensured = false;
  private readonly nat: boolean;

  constructor(
    private readonly sys: Syscalls,
    stateDir: string,
    opts: BridgeOptions = {},
  ) {
    this.name = opts.name ?? 'floe0';
    this.base = (opts.subnet ?? '10.88.0.0').split('.').map(Number);
    this.ipamDir = opts.ipamDir ?? path.join(stateDir, 'ipam', this.name);
    this.nat = opts.nat ?? true;
  }

  /** nf_tables table holding this bridge's masquerade rule. */
  get natTable(): string {
    return `floe_${this.name}`;
  }

  get gateway(): string {
    return `${this.base[0]}.${this.base[1]}.0.1`;
  }

  private netlink(): Netlink {
    this.nl ??= new Netlink(this.sys);
    return this.nl;
  }

  private ifindex(name: string): number {
    try {
      return Number(fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));
    } catch {
      throw new FailedPreconditionError(`network link ${name} does not exist`);
    }
  }

  /** Creates the bridge and its gateway address once; idempotent. */
  ensureBridge(): void {
    if (this.ensured) return;
    const nl = this.netlink();
    if (!fs.existsSync(`/sys/class/net/${this.name}`)) {
      nl.createBridge(this.name);
      // Only with a fresh bridge: the rule is appended, so re-adding would duplicate it.
      if (this.nat) installMasquerade(this.sys, this.natTable, this.name, this.base.join('.'));
    }
    const idx = this.ifindex(this.name);
    nl.addAddress(idx, this.gateway, 16);
    nl.setUp(idx);
    this.ensured = true;
  }

  /** Leases the lowest free address of the pool for `id`. */
  lease(id: string): string {
    fs.mkdirSync(this.ipamDir, { recursive: true });
    for (let n = 2; n < 65534; n++) {
      const ip = `${this.base[0]}.${this.base[1]}.${n >> 8}.${n & 255}`;
      if ((n & 255) === 0 || (n & 255) === 255) continue;
      try {
        fs.writeFileSync(path.join(this.ipamDir, ip), id, { flag: 'wx' });
        return ip;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new FailedPreconditionError(`address pool of ${this.name} is exhausted`);
  }

  static vethName(id: string): string {
    return `fl${createHash('sha1').update(id).digest('hex').slice(0, 10)}`;
  }

  /** Plugs a veth into the bridge for a leased `ip`; the peer appears as eth0 in `pid`'s netns. */
  attach(id: string, pid: number, ip: string): ContainerNet {
    this.ensureBridge();
    const hostVeth = BridgeNetwork.vethName(id);
    try {
      const nl = this.netlink();
      nl.createVeth(hostVeth, 'eth0', pid);
      nl.setUp(this.ifindex(hostVeth), this.ifindex(this.name));
    } catch (err) {
      this.netlink().deleteLink(hostVeth);
      throw err;
    }
    return { ip, prefix: 16, gateway: this.gateway, hostVeth };
  }

  /** Idempotent: removes the host veth (its peer goes with it) and the lease. */
  detach(id: string, net?: Pick<ContainerNet, 'ip' | 'hostVeth'>): void {
    this.netlink().deleteLink(net?.hostVeth ?? BridgeNetwork.vethName(id));
    if (net?.ip) fs.rmSync(path.join(this.ipamDir, net.ip), { force: true });
    else this.releaseLeasesOf(id);
  }

  private releaseLeasesOf(id: string): void {
    let files: string[] = [];
    try {
      files = fs.readdirSync(this.ipamDir);
    } catch {}
    for (const f of files) {
      try {
        if (fs.readFileSync(path.join(this.ipamDir, f), 'utf8') === id)
          fs.rmSync(path.join(this.ipamDir, f), { force: true });
      } catch {}
    }
  }

  /** Removes the bridge itself (tests; production keeps it like docker0). */
  destroyBridge(): void {
    this.netlink().deleteLink(this.name);
    removeMasquerade(this.sys, this.natTable);
    this.ensured = false;
    fs.rmSync(this.ipamDir, { recursive: true, force: true });
  }

  close(): void {
    this.nl?.close();
    this.nl = undefined;
  }
}
