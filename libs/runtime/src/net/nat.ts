import fs from 'node:fs';
import { SyscallError } from '@floe/contracts';
import type { Syscalls } from '../sys/syscalls.js';

// nf_tables over NETLINK_NETFILTER: numbers inside attributes are big-endian.
const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_DELTABLE = 2;
const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_NEWRULE = 6;
const NFPROTO_IPV4 = 2;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;
const NLMSG_ERROR = 2;
const NLA_F_NESTED = 0x8000;
const NF_INET_POST_ROUTING = 4;

type Attr = [type: number, data: Buffer | Attr[]];

function attrs(list: Attr[]): Buffer {
  const out: Buffer[] = [];
  for (const [type, d] of list) {
    const nested = !Buffer.isBuffer(d);
    const data = nested ? attrs(d) : d;
    const h = Buffer.alloc(4);
    h.writeUInt16LE(4 + data.length, 0);
    h.writeUInt16LE(type | (nested ? NLA_F_NESTED : 0), 2);
    out.push(h, data, Buffer.alloc(((data.length + 3) & ~3) - data.length));
  }
  return Buffer.concat(out);
}

const str = (s: string) => Buffer.from(`${s}\0`);
const be32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const ip4 = (ip: string) => Buffer.from(ip.split('.').map(Number));
const data = (b: Buffer): Attr[] => [[1, b]]; // NFTA_DATA_VALUE
const expr = (name: string, body: Attr[]): Attr => [
  1,
  [[1, str(name)], ...(body.length ? ([[2, body]] as Attr[]) : [])],
];

let seq = 1;
function msg(type: number, flags: number, family: number, body: Buffer, resId = 0): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt32LE(20 + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags | NLM_F_REQUEST, 6);
  h.writeUInt32LE(seq++, 8);
  h.writeUInt8(family, 16); // nfgenmsg
  h.writeUInt16BE(resId, 18);
  return Buffer.concat([h, body]);
}

const nft = (m: number) => (NFNL_SUBSYS_NFTABLES << 8) | m;

function batch(sys: Syscalls, msgs: Buffer[], what: string): void {
  const all = Buffer.concat([
    msg(NFNL_MSG_BATCH_BEGIN, 0, 0, Buffer.alloc(0), NFNL_SUBSYS_NFTABLES),
    ...msgs,
    msg(NFNL_MSG_BATCH_END, 0, 0, Buffer.alloc(0), NFNL_SUBSYS_NFTABLES),
  ]);
  // A fresh socket per batch: an aborted batch may leave several error records queued.
  const fd = sys.netlinkOpen(NETLINK_NETFILTER);
  try {
    const reply = sys.netlinkRequest(fd, all);
    if (reply.length >= 20 && reply.readUInt16LE(4) === NLMSG_ERROR) {
      const errno = -reply.readInt32LE(16);
      if (errno) throw new SyscallError('nf_tables', errno, undefined, what);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Egress NAT for a bridge: table `ip <table>` with a postrouting nat chain holding
 * `ip saddr <subnet>/16 oifname != <bridge> masquerade`, and net.ipv4.ip_forward=1 (host-wide,
 * as Docker does). Built as one nf_tables batch, so it is applied atomically.
 */
export function installMasquerade(sys: Syscalls, table: string, bridge: string, subnet: string): void {
  const chain = 'postrouting';
  const ifname = Buffer.alloc(16);
  ifname.write(bridge);
  const rule: Attr[] = [
    expr('payload', [
      [1, be32(1)],
      [2, be32(1)],
      [3, be32(12)],
      [4, be32(4)],
    ]), // ip saddr -> reg1
    expr('bitwise', [
      [1, be32(1)],
      [2, be32(1)],
      [3, be32(4)],
      [4, data(ip4('255.255.0.0'))],
      [5, data(ip4('0.0.0.0'))],
    ]),
    expr('cmp', [
      [1, be32(1)],
      [2, be32(0)],
      [3, data(ip4(subnet))],
    ]), // == subnet
    expr('meta', [
      [1, be32(1)],
      [2, be32(7)],
    ]), // oifname -> reg1
    expr('cmp', [
      [1, be32(1)],
      [2, be32(1)],
      [3, data(ifname)],
    ]), // != bridge
    expr('masq', []),
  ];
  batch(
    sys,
    [
      msg(nft(NFT_MSG_NEWTABLE), NLM_F_CREATE, NFPROTO_IPV4, attrs([[1, str(table)]])),
      msg(
        nft(NFT_MSG_NEWCHAIN),
        NLM_F_CREATE,
        NFPROTO_IPV4,
        attrs([
          [1, str(table)],
          [3, str(chain)],
          [
            4,
            [
              [1, be32(NF_INET_POST_ROUTING)],
              [2, be32(100)],
            ],
          ],
          [7, str('nat')],
        ]),
      ),
      msg(
        nft(NFT_MSG_NEWRULE),
        NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK,
        NFPROTO_IPV4,
        attrs([
          [1, str(table)],
          [2, str(chain)],
          [4, rule],
        ]),
      ),
    ],
    `install masquerade for ${bridge}`,
  );
  fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
}

/** Removes the NAT table (idempotent). */
export function removeMasquerade(sys: Syscalls, table: string): void {
  try {
    batch(
      sys,
      [msg(nft(NFT_MSG_DELTABLE), NLM_F_ACK, NFPROTO_IPV4, attrs([[1, str(table)]]))],
      `delete table ${table}`,
    );
  } catch (err) {
    if ((err as SyscallError).errno !== 2) throw err;
  }
}
