import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FloeError } from '../errors.js';
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameHeaderError,
  FrameTooLargeError,
} from './frame-codec.js';

/** Feeds `bytes` in the given chunk sizes; returns the frames, or the error that stopped it. */
function feed(decoder: FrameDecoder, bytes: Buffer, cuts: number[], transient = false) {
  const frames: Frame[] = [];
  let off = 0;
  try {
    for (const c of [...cuts, bytes.length]) {
      const end = Math.min(bytes.length, off + Math.max(1, c));
      if (off >= bytes.length) break;
      decoder.push(bytes.subarray(off, end), (f) => frames.push(f), transient);
      off = end;
    }
    while (off < bytes.length) {
      decoder.push(bytes.subarray(off), (f) => frames.push(f), transient);
      off = bytes.length;
    }
    return { frames };
  } catch (error) {
    return { frames, error };
  }
}

const headerArb = fc.dictionary(
  fc.string({ maxLength: 12 }),
  fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean()),
  { maxKeys: 6 },
);
const frameArb = fc.record({ header: headerArb, body: fc.uint8Array({ maxLength: 300 }) });

describe('FrameDecoder (property-based)', () => {
  it('gives back every encoded JSON frame, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 40 }),
        fc.boolean(),
        (frames, cuts, transient) => {
          const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.header, Buffer.from(f.body))));
          const out = feed(new FrameDecoder('json'), bytes, cuts, transient);
          expect(out.error).toBeUndefined();
          expect(out.frames.map((f) => JSON.stringify(f.header))).toEqual(
            frames.map((f) => JSON.stringify(f.header)),
          );
          expect(out.frames.map((f) => Buffer.from(f.body).toString('hex'))).toEqual(
            frames.map((f) => Buffer.from(f.body).toString('hex')),
          );
        },
      ),
    );
  });

  it('random and mutated bytes end in frames or a typed error, never anything else', () => {
    const valid = fc
      .array(frameArb, { minLength: 1, maxLength: 4 })
      .map((fs) => Buffer.concat(fs.map((f) => encodeFrame(f.header, Buffer.from(f.body)))));
    const mutated = fc
      .tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }))
      .map(([b, flips]) => {
        const m = Buffer.from(b);
        for (const [i, v] of flips) m[i % m.length] = v;
        return m;
      });
    fc.assert(
      fc.property(
        fc.oneof(
          mutated,
          fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
        ),
        fc.array(fc.integer({ min: 1, max: 32 }), { maxLength: 20 }),
        fc.constantFrom<'json' | 'kv' | 'auto'>('json', 'kv', 'auto'),
        (bytes, cuts, format) => {
          const out = feed(new FrameDecoder(format, 4096), bytes, cuts);
          if (out.error !== undefined) {
            expect(out.error).toBeInstanceOf(FloeError);
            expect(out.error instanceof FrameTooLargeError || out.error instanceof FrameHeaderError).toBe(
              true,
            );
          }
          for (const f of out.frames) {
            expect(typeof f.header).toBe('object');
            expect(Object.getPrototypeOf(f.header)).toBe(Object.prototype);
            expect(Buffer.isBuffer(f.body)).toBe(true);
          }
        },
      ),
    );
  });

  it('a length prefix past the limit is refused before anything is buffered', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4097, max: 0xffffffff }), (claimed) => {
        const prefix = Buffer.alloc(8);
        prefix.writeUInt32BE(Math.min(claimed, 0xffffffff), 0);
        const out = feed(new FrameDecoder('json', 4096), prefix, []);
        expect(out.error).toBeInstanceOf(FrameTooLargeError);
        expect((out.error as FrameTooLargeError).code).toBe('RESOURCE_EXHAUSTED');
      }),
    );
  });

  it('a kv header cannot set the prototype of the decoded header', () => {
    const head = Buffer.from(['__proto__', 'x', 'h:__proto__', 'y', 'status', '200', ''].join('\x00'));
    const frame = Buffer.concat([Buffer.alloc(8), head]);
    frame.writeUInt32BE(head.length, 0);
    const out = feed(new FrameDecoder('kv'), frame, []);
    expect(out.error).toBeUndefined();
    expect(Object.getPrototypeOf(out.frames[0]!.header)).toBe(Object.prototype);
    expect(out.frames[0]!.header.status).toBe(200);
  });
});
