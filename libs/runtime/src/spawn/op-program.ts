/**
 * The flat op program the native shim interprets in the child between clone3 and execveat.
 * Layout: a 16-byte header {u32 magic, u32 nops}, then nops records of 8 little-endian u64
 * words {op | flags << 32, a0..a6}, then a data area. String arguments are byte offsets into
 * the program (0 = NULL); pointer arrays (argv, envp) are u64 offset arrays ending in 0 that
 * the child rewrites in place in its copy-on-write copy, so the child never allocates.
 */
export const Op = {
  WAIT: 1,
  READY: 2,
  MKDIR: 3,
  MOUNT: 4,
  UMOUNT: 5,
  TOUCH: 6,
  SYMLINK: 7,
  PIVOT: 8,
  CHDIR: 9,
  SETHOSTNAME: 10,
  LO_UP: 11,
  RLIMIT: 12,
  WRITE_FILE: 13,
  SETRESUID: 14,
  SETRESGID: 15,
  SETGROUPS: 16,
  PRCTL: 17,
  BSET_KEEP: 18,
  CAPSET: 19,
  AMBIENT: 20,
  SECCOMP: 21,
  DUP2: 22,
  CLOEXEC_FROM: 23,
  SETSID: 24,
  EXECVEAT: 25,
  UNSHARE: 26,
  OPEN_NULL_STDIO: 27,
  OPEN_REG: 28,
  WAIT_REG: 29,
  NET_CONFIG: 30,
  SETNS: 31,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

export const OPF_IGNORE_ENOENT = 1;
export const OPF_IGNORE_ALL = 2;

const MAGIC = 0x464c4f45;
const HEADER = 16;
const RECORD = 64;

/** How a failed op is reported: the syscall it ran and the path it touched. */
export interface OpDescription {
  op: OpCode;
  syscall: string;
  path?: string;
  what?: string;
}

type Arg = number | bigint | { str: string } | { bytes: Buffer } | { strArray: string[] } | null;

interface PendingOp {
  op: OpCode;
  flags: number;
  args: Arg[];
}

/** Builds an op program. Ops run in insertion order; `describe(i)` names op i on failure. */
export class OpProgram {
  private readonly ops: PendingOp[] = [];
  private readonly descriptions: OpDescription[] = [];

  add(op: OpCode, args: Arg[], desc: Omit<OpDescription, 'op'>, flags = 0): this {
    if (args.length > 7) throw new Error('op takes at most 7 arguments');
    this.ops.push({ op, flags, args });
    this.descriptions.push({ op, ...desc });
    return this;
  }

  get length(): number {
    return this.ops.length;
  }

  describe(index: number): OpDescription | undefined {
    return this.descriptions[index];
  }

  /** Op codes in order, for tests and for debugging a plan. */
  codes(): OpCode[] {
    return this.ops.map((o) => o.op);
  }

  encode(): Buffer {
    const data: Buffer[] = [];
    let dataLen = 0;
    const dataStart = HEADER + this.ops.length * RECORD;
    const place = (b: Buffer): number => {
      // 8-byte alignment keeps u64 arrays and sock_filter arrays naturally aligned.
      const pad = (8 - (dataLen % 8)) % 8;
      if (pad) {
        data.push(Buffer.alloc(pad));
        dataLen += pad;
      }
      const off = dataStart + dataLen;
      data.push(b);
      dataLen += b.length;
      return off;
    };
    const cstr = (s: string) => place(Buffer.from(`${s}\0`));
    // Words as numbers (offsets, flags and fds fit in 53 bits); bigints only when given.
    const words: (number | bigint)[][] = this.ops.map((o) => {
      const w: (number | bigint)[] = [o.op + o.flags * 2 ** 32];
      for (const a of o.args) {
        if (a === null) w.push(0);
        else if (typeof a === 'number')
          w.push(a < 0 || !Number.isSafeInteger(a) ? BigInt.asUintN(64, BigInt(a)) : a);
        else if (typeof a === 'bigint') w.push(BigInt.asUintN(64, a));
        else if ('str' in a) w.push(cstr(a.str));
        else if ('bytes' in a) w.push(place(a.bytes));
        else {
          const offs = a.strArray.map(cstr);
          const arr = Buffer.alloc((offs.length + 1) * 8);
          offs.forEach((o, i) => {
            arr.writeUInt32LE(o, i * 8);
          });
          w.push(place(arr));
        }
      }
      return w;
    });
    const out = Buffer.alloc(dataStart + dataLen);
    out.writeUInt32LE(MAGIC, 0);
    out.writeUInt32LE(this.ops.length, 4);
    words.forEach((w, i) => {
      w.forEach((v, j) => {
        const at = HEADER + i * RECORD + j * 8;
        if (typeof v === 'bigint') out.writeBigUInt64LE(v, at);
        else {
          out.writeUInt32LE(v % 2 ** 32, at);
          out.writeUInt32LE(Math.floor(v / 2 ** 32), at + 4);
        }
      });
    });
    let off = dataStart;
    for (const b of data) off += b.copy(out, off);
    return out;
  }
}
