/**
 * The invoke fast path's wire format: `[u32 BE length][JSON]`, one message per frame.
 * Bodies travel base64 inside the JSON, as they do over Nest TCP, so the same
 * InvokeRequest/InvokeResponse shapes cross either transport unchanged.
 */
const EMPTY = Buffer.alloc(0);

export function encodeJsonFrame(message: unknown): Buffer {
  const json = JSON.stringify(message);
  const len = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(4 + len);
  out.writeUInt32BE(len, 0);
  out.write(json, 4, 'utf8');
  return out;
}

/** Incremental decoder: feed socket chunks, get whole messages. */
export class JsonFrameDecoder {
  private pending: Buffer = EMPTY;

  constructor(private readonly maxFrameBytes = 64 * 1024 * 1024) {}

  push(chunk: Buffer, onMessage: (m: unknown) => void): void {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (len > this.maxFrameBytes)
        throw new RangeError(`rpc frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes}`);
      if (buf.length - off < 4 + len) break;
      const json = buf.toString('utf8', off + 4, off + 4 + len);
      off += 4 + len;
      onMessage(JSON.parse(json));
    }
    this.pending = off === buf.length ? EMPTY : buf.subarray(off);
  }
}
