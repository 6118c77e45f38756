import fs from 'node:fs';
import { SyscallError } from '@floe/contracts';
import type { Syscalls } from '../sys/syscalls.js';

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NLMSG_ERROR = 2;
const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_PID = 19;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFF_UP = 1;
const AF_INET = 2;

type Attr = { type: number; data: Buffer | Attr[] };

function align4(n: number): number {
  return (n + 3) & ~3;
}

function encodeAttrs(attrs: Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const data = Buffer.isBuffer(a.data) ? a.data : encodeAttrs(a.data);
    const hdr = Buffer.alloc(4);
    hdr.writeUInt16LE(4 + data.length, 0);
    hdr.writeUInt16LE(a.type, 2);
    parts.push(hdr, data, Buffer.alloc(align4(data.length) - data.length));
  }
  return Buffer.concat(parts);
}

const str = (s: string) => Buffer.from(`${s}\0`);
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

function ifinfomsg(index = 0, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(0, 0); // AF_UNSPEC
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

let seq = 1;

function message(type: number, flags: number, body: Buffer): Buffer {
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt16LE(flags | NLM_F_REQUEST | NLM_F_ACK, 6);
  hdr.writeUInt32LE(seq++, 8);
  return Buffer.concat([hdr, body]);
}

/** Parses the NLMSG_ERROR ack: 0 on success, else the positive errno. */
function ackErrno(reply: Buffer): number {
  if (reply.length < 20 || reply.readUInt16LE(4) !== NLMSG_ERROR) return 0;
  return -reply.readInt32LE(16);
}

/** A minimal rtnetlink client: links, veths, bridge enslaving and addresses. */
export class Netlink {
  private readonly fd: number;

  constructor(private readonly sys: Syscalls) {
    this.fd = sys.netlinkOpen();
  }

  private request(type: number, flags: number, body: Buffer, what: string, ignore: number[] = []): void {
    const errno = ackErrno(this.sys.netlinkRequest(this.fd, message(type, flags, body)));
    if (errno && !ignore.includes(errno)) throw new SyscallError('rtnetlink', errno, undefined, what);
  }

  createBridge(name: string): void {
    const body = Buffer.concat([
      ifinfomsg(),
      encodeAttrs([
        { type: IFLA_IFNAME, data: str(name) },
        { type: IFLA_LINKINFO, data: [{ type: IFLA_INFO_KIND, data: str('bridge') }] },
      ]),
    ]);
    this.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, `create bridge ${name}`, [17]);
  }

  /** A veth pair whose peer is created directly inside the netns of `peerPid`. */
  createVeth(hostName: string, peerName: string, peerPid: number): void {
    const peer = Buffer.concat([
      ifinfomsg(),
      encodeAttrs([
        { type: IFLA_IFNAME, data: str(peerName) },
        { type: IFLA_NET_NS_PID, data: u32(peerPid) },
      ]),
    ]);
    const body = Buffer.concat([
      ifinfomsg(),
      encodeAttrs([
        { type: IFLA_IFNAME, data: str(hostName) },
        {
          type: IFLA_LINKINFO,
          data: [
            { type: IFLA_INFO_KIND, data: str('veth') },
            { type: IFLA_INFO_DATA, data: [{ type: VETH_INFO_PEER, data: peer }] },
          ],
        },
      ]),
    ]);
    this.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, `create veth ${hostName}`);
  }

  /** Brings a link up, optionally enslaving it to a bridge. */
  setUp(index: number, masterIndex?: number): void {
    const attrs: Attr[] = masterIndex ? [{ type: IFLA_MASTER, data: u32(masterIndex) }] : [];
    this.request(
      RTM_NEWLINK,
      0,
      Buffer.concat([ifinfomsg(index, IFF_UP, IFF_UP), encodeAttrs(attrs)]),
      `set link ${index} up`,
    );
  }

  addAddress(index: number, ip: string, prefix: number): void {
    const msg = Buffer.alloc(8);
    msg.writeUInt8(AF_INET, 0);
    msg.writeUInt8(prefix, 1);
    msg.writeUInt32LE(index, 4);
    const addr = Buffer.from(ip.split('.').map(Number));
    const body = Buffer.concat([
      msg,
      encodeAttrs([
        { type: IFA_LOCAL, data: addr },
        { type: IFA_ADDRESS, data: addr },
      ]),
    ]);
    this.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, `add address ${ip}/${prefix}`, [17]);
  }

  /** Deletes a link by name; a missing link is fine (delete is idempotent). */
  deleteLink(name: string): void {
    const body = Buffer.concat([ifinfomsg(), encodeAttrs([{ type: IFLA_IFNAME, data: str(name) }])]);
    this.request(RTM_DELLINK, 0, body, `delete link ${name}`, [19]);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
