/**
 * Floe's one framing, shared by the invoke channel between the agent and the process inside
 * an instance, and by the invoke fast path between services (FrameRpcServer/-Client):
 *
 *   [u32 BE header length][u32 BE body length][header][body]
 *
 * The body is raw bytes, so it stays binary-safe with no base64 step. Headers are JSON for
 * the node and python bootstraps, and NUL-separated key/value pairs (`kv`) for the C
 * watchdog, which has no JSON parser. In `kv`, HTTP headers travel as `h:<name>` keys and a
 * list as its key repeated.
 */
import { FloeError } from '../errors.js';

export type FrameFormat = 'json' | 'kv';

export interface Frame {
  header: Record<string, unknown>;
  body: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** A frame's length prefix claims more than the decoder accepts; the stream can't go on. */
export class FrameTooLargeError extends FloeError {
  constructor(
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super('RESOURCE_EXHAUSTED', `frame of ${bytes} bytes exceeds the limit of ${limitBytes}`, {
      details: { bytes, limitBytes },
    });
  }
}

/** A frame whose header is not a JSON object (or not UTF-8 kv pairs); the stream can't go on. */
export class FrameHeaderError extends FloeError {
  constructor(reason: string) {
    super('INVALID_ARGUMENT', `frame header: ${reason}`, { details: { field: 'header' }, fault: 'platform' });
  }
}

export function encodeFrame(header: object, body: Buffer = EMPTY, format: FrameFormat = 'json'): Buffer {
  if (format === 'kv') return assemble(encodeKv(header), body);
  // One allocation: the JSON is written straight into the frame (this runs twice per call).
  const json = JSON.stringify(header);
  const hl = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(8 + hl + body.length);
  out.writeUInt32BE(hl, 0);
  out.writeUInt32BE(body.length, 4);
  out.write(json, 8, 'utf8');
  if (body.length) body.copy(out, 8 + hl);
  return out;
}

/** Bodies from this size on are written after their header, not copied into one buffer with it. */
const SEPARATE_BODY_BYTES = 64 * 1024;

/**
 * A frame as the buffers to write, in order: one for a small body (one copy, one write), the
 * prefix and header then the body itself for a large one, which is never copied (a megabyte
 * copied costs ~0.1–0.3 ms per hop here). Write them corked, so they leave in one writev.
 */
export function frameParts(header: object, body: Buffer = EMPTY, format: FrameFormat = 'json'): Buffer[] {
  if (body.length < SEPARATE_BODY_BYTES) return [encodeFrame(header, body, format)];
  const head = format === 'kv' ? encodeKv(header) : Buffer.from(JSON.stringify(header));
  const prefix = Buffer.allocUnsafe(8 + head.length);
  prefix.writeUInt32BE(head.length, 0);
  prefix.writeUInt32BE(body.length, 4);
  head.copy(prefix, 8);
  return [prefix, body];
}

/** Writes frameParts corked: one writev for a large body, no copy of it. */
export function writeFrame(
  socket: { cork(): void; uncork(): void; write(b: Buffer): boolean },
  parts: Buffer[],
): void {
  if (parts.length === 1) {
    socket.write(parts[0] as Buffer);
    return;
  }
  socket.cork();
  for (const p of parts) socket.write(p);
  socket.uncork();
}

function assemble(head: Buffer, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8 + head.length + body.length);
  out.writeUInt32BE(head.length, 0);
  out.writeUInt32BE(body.length, 4);
  head.copy(out, 8);
  body.copy(out, 8 + head.length);
  return out;
}

function encodeKv(header: object): Buffer {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(header)) {
    if (v === undefined) continue;
    if (k === 'headers' || k === 'env') {
      const prefix = k === 'headers' ? 'h:' : 'e:';
      for (const [hk, hv] of Object.entries(v as Record<string, string>)) parts.push(prefix + hk, String(hv));
    } else if (Array.isArray(v)) {
      // A list is its key repeated, in order (the watchdog's argv).
      for (const item of v) parts.push(k, String(item));
    } else {
      parts.push(k, String(v));
    }
  }
  return Buffer.from(`${parts.join('\0')}\0`);
}

function decodeKv(buf: Buffer): Record<string, unknown> {
  const items = buf.toString('utf8').split('\0');
  const out: Record<string, unknown> = {};
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < items.length; i += 2) {
    const k = items[i] as string;
    const v = items[i + 1] as string;
    // A peer's `__proto__` key would replace the object's prototype, not add a field.
    if (k === '__proto__' || k === 'h:__proto__') continue;
    if (k.startsWith('h:')) headers[k.slice(2)] = v;
    else out[k] = k === 'status' || k === 'id' ? Number(v) : v;
  }
  out.headers = headers;
  return out;
}

/**
 * Incremental decoder: feed socket chunks, get whole frames. Slices (no copy) when a chunk
 * holds whole frames. A frame split across reads is kept as a list of its parts and joined
 * once, when complete: growing one buffer read by read copied a 6 MiB body ~100 times over
 * (~0.1 s), and allocating the size a prefix claims would let 8 bytes from a peer reserve
 * up to `maxFrameBytes`.
 */
export class FrameDecoder {
  /** The start of a frame that is not complete yet. */
  private parts: Buffer[] = [];
  private have = 0;
  /** That frame's size, once its 8-byte prefix is in; else 0. */
  private want = 0;
  /** Transient reads only: that frame's own buffer, `want` bytes, filled read by read. */
  private fill?: Buffer;

  constructor(
    public format: FrameFormat | 'auto' = 'auto',
    private readonly maxFrameBytes = 64 * 1024 * 1024,
  ) {}

  /**
   * `transient`: the chunk's memory is reused after this call (a socket's `onread` buffer),
   * so what outlives it (a partial frame, every non-empty body) is copied out of it. A partial
   * frame is then copied once, into a buffer of its full size: the copy is needed anyway, and
   * a copy per read joined at the end was two. Sockets read into their own buffer this way
   * (FrameRpcClient, FrameRpcServer's plain listeners, the agent's instance channel) only once
   * their peer has authenticated, or on listeners that authenticate nobody, so a stranger's
   * prefix can't make a listener that does reserve `maxFrameBytes`.
   */
  push(chunk: Buffer, onFrame: (f: Frame) => void, transient = false): void {
    let buf = chunk;
    let copy = transient;
    if (this.want > 0) {
      const n = Math.min(this.want - this.have, chunk.length);
      if (this.fill) chunk.copy(this.fill, this.have, 0, n);
      else {
        const part = chunk.subarray(0, n);
        this.parts.push(transient ? Buffer.from(part) : part);
      }
      this.have += n;
      if (this.have < this.want) return;
      const whole = this.fill ?? Buffer.concat(this.parts, this.want);
      this.keep(EMPTY, false);
      this.emit(whole, 0, onFrame, false);
      if (n === chunk.length) return;
      buf = chunk.subarray(n);
    } else if (this.have > 0) {
      buf = Buffer.concat([...this.parts, chunk]); // under 8 bytes were waiting: a small copy
      copy = false;
    }
    let off = 0;
    while (buf.length - off >= 8) {
      const size = this.frameSize(buf, off);
      if (buf.length - off < size) break;
      this.emit(buf, off, onFrame, copy);
      off += size;
    }
    this.keep(buf.subarray(off), copy);
  }

  /** Keeps `rest`, the start of the next frame (maybe empty), for the next push. */
  private keep(rest: Buffer, copy: boolean): void {
    this.have = rest.length;
    this.want = rest.length >= 8 ? this.frameSize(rest, 0) : 0;
    this.fill = copy && this.want > 0 ? Buffer.allocUnsafe(this.want) : undefined;
    if (this.fill) rest.copy(this.fill, 0);
    this.parts = this.fill || !rest.length ? [] : [copy ? Buffer.from(rest) : rest];
  }

  private frameSize(buf: Buffer, off: number): number {
    const hl = buf.readUInt32BE(off);
    const bl = buf.readUInt32BE(off + 4);
    if (hl + bl > this.maxFrameBytes) throw new FrameTooLargeError(hl + bl, this.maxFrameBytes);
    return 8 + hl + bl;
  }

  private emit(buf: Buffer, off: number, onFrame: (f: Frame) => void, copy: boolean): void {
    const hl = buf.readUInt32BE(off);
    const bl = buf.readUInt32BE(off + 4);
    const head = buf.subarray(off + 8, off + 8 + hl);
    const view = buf.subarray(off + 8 + hl, off + 8 + hl + bl);
    const body = bl === 0 ? EMPTY : copy ? Buffer.from(view) : view;
    if (this.format === 'auto') this.format = sniffFormat(head);
    onFrame({ header: this.format === 'json' ? parseJsonHeader(head) : decodeKv(head), body });
  }
}

function parseJsonHeader(head: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(head.toString('utf8'));
  } catch (e) {
    throw new FrameHeaderError(`not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new FrameHeaderError('not a JSON object');
  return v as Record<string, unknown>;
}

/** A hello may arrive in either format; the C watchdog announces `fmt kv`. */
export function sniffFormat(head: Buffer): FrameFormat {
  return head[0] === 0x7b /* { */ ? 'json' : 'kv';
}
