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
    // Two passes over the ops: size the data area, then write records and data straight into
    // one buffer (no per-string Buffers, no concat): this runs on every spawn.
    const dataStart = HEADER + this.ops.length * RECORD;
    let size = dataStart;
    const align = (n: number) => n + ((8 - (n % 8)) % 8);
    for (const o of this.ops) {
      for (const a of o.args) {
        if (a === null || typeof a === 'number' || typeof a === 'bigint') continue;
        if ('str' in a) size = align(size) + Buffer.byteLength(a.str) + 1;
        else if ('bytes' in a) size = align(size) + a.bytes.length;
        else {
          for (const s of a.strArray) size = align(size) + Buffer.byteLength(s) + 1;
          size = align(size) + (a.strArray.length + 1) * 8;
        }
      }
    }
    // allocUnsafe: every byte is written below (records, padding, data) or zero-filled.
    const out = Buffer.allocUnsafe(size);
    out.fill(0, 0, dataStart);
    let off = dataStart;
    // 8-byte alignment keeps u64 arrays and sock_filter arrays naturally aligned.
    const pad = () => {
      const p = (8 - (off % 8)) % 8;
      if (p) out.fill(0, off, off + p);
      off += p;
    };
    const cstr = (s: string): number => {
      pad();
      const at = off;
      off += out.write(s, off, 'utf8');
      out[off++] = 0;
      return at;
    };
    const word = (at: number, v: number | bigint) => {
      // Numbers cover offsets, flags and fds (53 bits); bigints and negatives as u64.
      if (typeof v === 'bigint') out.writeBigUInt64LE(BigInt.asUintN(64, v), at);
      else if (v < 0 || !Number.isSafeInteger(v)) out.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), at);
      else {
        out.writeUInt32LE(v % 2 ** 32, at);
        out.writeUInt32LE(Math.floor(v / 2 ** 32), at + 4);
      }
    };
    out.writeUInt32LE(MAGIC, 0);
    out.writeUInt32LE(this.ops.length, 4);
    for (let i = 0; i < this.ops.length; i++) {
      const o = this.ops[i]!;
      const rec = HEADER + i * RECORD;
      word(rec, o.op + o.flags * 2 ** 32);
      for (let j = 0; j < o.args.length; j++) {
        const a = o.args[j] as Arg;
        const at = rec + (j + 1) * 8;
        if (a === null) continue;
        if (typeof a === 'number' || typeof a === 'bigint') word(at, a);
        else if ('str' in a) word(at, cstr(a.str));
        else if ('bytes' in a) {
          pad();
          word(at, off);
          off += a.bytes.copy(out, off);
        } else {
          const offs = a.strArray.map(cstr);
          pad();
          word(at, off);
          for (const s of offs) {
            word(off, s);
            off += 8;
          }
          word(off, 0);
          off += 8;
        }
      }
    }
    if (off !== size) throw new Error(`op program size mismatch: ${off} != ${size}`);
    return out;
  }
}
