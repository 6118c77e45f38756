import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { TarEntryType } from './tar-reader.js';

/** What to write for one member. Bodies come from a buffer or a host file. */
export interface TarWriteEntry {
  name: string;
  type: TarEntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; defaults to 0 so archives are reproducible. */
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
  body?: Buffer;
  /** Stream the body from this host path; `size` must be its exact length. */
  bodyPath?: string;
  /** Stream the body from here; `size` must be its exact length. */
  bodyStream?: AsyncIterable<Buffer>;
  size?: number;
}

const BLOCK = 512;
const FLAGS: Record<TarEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

function octal(h: Buffer, off: number, len: number, v: number): void {
  h.write(`${v.toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1');
}

function header(name: string, flag: string, e: TarWriteEntry, size: number, linkname: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, e.mode ?? (e.type === 'dir' ? 0o755 : 0o644));
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, Math.floor(e.mtime ?? 0));
  h.write(flag, 156, 1, 'latin1');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\x0000', 257, 8, 'latin1');
  octal(h, 329, 8, e.devmajor ?? 0);
  octal(h, 337, 8, e.devminor ?? 0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len++;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

/**
 * Deterministic tar writer (ustar + PAX for long names and xattrs) onto a Writable that it
 * respects backpressure of. Same entries in the same order give the same bytes, which is
 * what makes base-image diffIDs stable across hosts with the same binaries.
 */
export class TarWriter {
  constructor(private readonly out: Writable) {}

  private async write(b: Buffer): Promise<void> {
    if (this.out.destroyed) throw new Error('tar writer: output closed');
    if (this.out.write(b)) return;
    // A consumer that fails destroys the stream: 'drain' then never comes, 'close' does.
    await new Promise<void>((resolve, reject) => {
      const drain = () => {
        this.out.off('close', close);
        resolve();
      };
      const close = () => {
        this.out.off('drain', drain);
        reject(new Error('tar writer: output closed'));
      };
      this.out.once('drain', drain);
      this.out.once('close', close);
    });
  }

  async add(e: TarWriteEntry): Promise<void> {
    const name = e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    const linkname = e.linkname ?? '';
    const size = e.type === 'file' ? (e.body?.length ?? e.size ?? 0) : 0;
    const pax: Buffer[] = [];
    if (Buffer.byteLength(name) > 100) pax.push(paxRecord('path', Buffer.from(name)));
    if (Buffer.byteLength(linkname) > 100) pax.push(paxRecord('linkpath', Buffer.from(linkname)));
    for (const [k, v] of [...(e.xattrs ?? new Map<string, Buffer>())].sort(([a], [b]) => (a < b ? -1 : 1))) {
      pax.push(paxRecord(`SCHILY.xattr.${k}`, v));
    }
    if (pax.length > 0) {
      const body = Buffer.concat(pax);
      await this.write(header('PaxHeader', 'x', { name: '', type: 'file', mode: 0o644 }, body.length, ''));
      await this.writeBody(body);
    }
    await this.write(header(name.slice(0, 100), FLAGS[e.type], e, size, linkname.slice(0, 100)));
    if (e.type !== 'file') return;
    if (e.body) return this.writeBody(e.body);
    const src =
      e.bodyStream ?? (e.bodyPath ? createReadStream(e.bodyPath, { highWaterMark: 1 << 20 }) : undefined);
    if (!src) return this.pad(0);
    let n = 0;
    for await (const c of src) {
      n += (c as Buffer).length;
      if (n > size) throw new Error(`tar writer: ${e.name} is longer than its declared ${size} bytes`);
      await this.write(c as Buffer);
    }
    if (n !== size) throw new Error(`tar writer: ${e.name} is ${n} bytes, declared ${size}`);
    await this.pad(size);
  }

  private async writeBody(b: Buffer): Promise<void> {
    await this.write(b);
    await this.pad(b.length);
  }

  private async pad(size: number): Promise<void> {
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) await this.write(Buffer.alloc(pad));
  }

  /** Two zero blocks, then end the stream and wait for it to flush. */
  async finish(): Promise<void> {
    await this.write(Buffer.alloc(BLOCK * 2));
    this.out.end();
    if (!this.out.writableFinished) await once(this.out, 'finish');
  }
}
