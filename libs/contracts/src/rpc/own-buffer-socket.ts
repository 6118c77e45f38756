import net from 'node:net';

/** What the agent's listeners read into per connection: past a unix socket's send buffer (~208 KiB) a read can't grow. */
export const OWN_BUFFER_BYTES = 256 * 1024;

/**
 * Makes an accepted socket read into one buffer of its own, as `net.connect`'s `onread` does
 * for a dialed one. Node reads an accepted socket 64 KiB at a time, each read a fresh buffer
 * pushed through the stream machinery: a megabyte frame was 16 of them and a join, and their
 * garbage (2 MiB per echoed megabyte at the agent) drove V8's full collections. Measured
 * alone, 1 MiB in and 8 bytes back over a unix socket: 0.68 ms through 'data', 0.38–0.41 ms
 * this way.
 *
 * The server must accept with `pauseOnConnect`, so that nothing was read yet. The connection's
 * handle moves to a new socket, made as `net.connect` makes one with `onread`; the accepted
 * one, left without it, is destroyed, so its server no longer counts it (the caller tracks
 * the new one). `onChunk` gets a view of the buffer that is valid only during the call: what
 * outlives it must be copied (FrameDecoder's `transient`).
 */
export function readIntoOwnBuffer(
  accepted: net.Socket,
  onChunk: (chunk: Buffer) => void,
  bytes = OWN_BUFFER_BYTES,
): net.Socket {
  const husk = accepted as net.Socket & { _handle: unknown };
  const handle = husk._handle;
  // Gone already (reset as it was accepted): the caller's handlers see it close.
  if (!handle) return accepted.destroy();
  husk._handle = null;
  accepted.destroy();
  const buffer = Buffer.allocUnsafe(bytes);
  // `handle` is how net.Server itself wraps an accepted connection; the typings omit it and `onread`.
  return new net.Socket({
    handle,
    readable: true,
    writable: true,
    onread: {
      buffer,
      callback: (n: number) => {
        onChunk(buffer.subarray(0, n));
      },
    },
  } as net.SocketConstructorOpts);
}
