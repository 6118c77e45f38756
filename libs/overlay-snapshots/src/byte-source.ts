import type { FileHandle } from 'node:fs/promises';
import { InvalidArgumentError } from '@floe/contracts';

/**
 * A forward-only byte source the tar reader pulls from. Two backings: an async stream
 * (a layer blob being decompressed) and a file handle read by position (the outer image
 * archive, where skipping a layer's body is free).
 */
export interface ByteSource {
  /** Exactly `n` bytes, or fewer only at end of input. */
  read(n: number): Promise<Buffer>;
  /** Between 1 and `max` bytes, or an empty buffer at end of input. */
  readSome(max: number): Promise<Buffer>;
  /** Skip `n` bytes; throws on premature end of input. */
  skip(n: number): Promise<void>;
  /** Bytes consumed so far. */
  readonly position: number;
}

export class StreamSource implements ByteSource {
  private readonly it: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  position = 0;

  constructor(stream: AsyncIterable<Buffer | Uint8Array | string>) {
    this.it = (async function* () {
      for await (const c of stream)
        yield typeof c === 'string' ? Buffer.from(c) : Buffer.from(c as Uint8Array);
    })();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    if (r.value.length > 0) {
      this.chunks.push(r.value);
      this.buffered += r.value.length;
    }
    return true;
  }

  private take(n: number): Buffer {
    n = Math.min(n, this.buffered);
    let out: Buffer;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    this.position += n;
    return out;
  }

  async read(n: number): Promise<Buffer> {
    while (this.buffered < n && (await this.fill()));
    return this.buffered === 0 ? Buffer.alloc(0) : this.take(n);
  }

  async readSome(max: number): Promise<Buffer> {
    while (this.buffered === 0 && (await this.fill()));
    return this.buffered === 0 ? Buffer.alloc(0) : this.take(max);
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      const b = await this.readSome(Math.min(n, 1 << 20));
      if (b.length === 0) throw new InvalidArgumentError('archive', 'unexpected end of archive');
      n -= b.length;
    }
  }
}

export class FileSource implements ByteSource {
  position: number;
  constructor(
    private readonly fh: FileHandle,
    start = 0,
    private readonly end = Number.POSITIVE_INFINITY,
  ) {
    this.position = start;
  }

  async read(n: number): Promise<Buffer> {
    n = Math.min(n, this.end - this.position);
    const buf = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const { bytesRead } = await this.fh.read(buf, off, n - off, this.position + off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    this.position += off;
    return off === n ? buf : buf.subarray(0, off);
  }

  readSome(max: number): Promise<Buffer> {
    return this.read(Math.min(max, 1 << 20));
  }

  async skip(n: number): Promise<void> {
    this.position += n;
  }
}
