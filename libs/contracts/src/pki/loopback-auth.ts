import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type net from 'node:net';

/**
 * Peer authentication for frame connections that never leave the host: a mutual
 * challenge-response over HMAC-SHA256 with a key derived from the cluster CA's key, then
 * frames in the clear. Mutual TLS costs ~50 µs per call on the agent's warm path here (a third
 * of it); on loopback, where only root can read or inject traffic, encryption buys nothing
 * that authentication does not. Connections to any other address use mutual TLS.
 *
 *   client → server  MAGIC (8) | client nonce (32)
 *   server → client  MAGIC (8) | server nonce (32) | HMAC(key, "s" | cN | sN)
 *   client → server  HMAC(key, "c" | cN | sN), then frames
 *
 * Each side proves it holds the key over nonces the other chose, so a recorded exchange
 * can't be replayed, and a local user who binds a port while its service is down learns
 * nothing: the client sends no frame before the server has proven itself.
 */
export const LOOPBACK_AUTH_MAGIC = Buffer.from('FLOEHMC1');
const NONCE = 32;
const MAC = 32;
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Connections to these stay on the host (`localhost`, 127.0.0.0/8, ::1). */
export function isLoopback(host: string): boolean {
  return (
    host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1'
  );
}

/** The HMAC key for loopback handshakes: derived from the cluster CA's private key, which every service holds. */
export function loopbackKey(caKey: Buffer): Buffer {
  return createHmac('sha256', caKey).update('floe loopback frame auth v1').digest();
}

function mac(key: Buffer, who: 's' | 'c', cN: Buffer, sN: Buffer): Buffer {
  return createHmac('sha256', key).update(who).update(cN).update(sN).digest();
}

/** Bytes arrive in chunks of any size: `take(n)` waits for n of them. */
class Reader {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
  }
  take(n: number): Buffer | undefined {
    if (this.buf.length < n) return undefined;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  peek(n: number): Buffer | undefined {
    return this.buf.length < n ? undefined : this.buf.subarray(0, n);
  }
  rest(): Buffer {
    return this.buf;
  }
}

export interface Handshake {
  /** Feeds bytes read from the socket; returns true once authenticated (pass `rest()` on). */
  push(chunk: Buffer): boolean;
  /** Bytes past the handshake (the first frames), once it is done. */
  rest(): Buffer;
}

/**
 * The server's side. `fail` is called once, with the reason, when the peer is not who it
 * must be (wrong magic, wrong proof, not on loopback, too slow); the caller closes and counts.
 * `unix`: the socket is a unix socket's, whose peer is on this host by construction.
 */
export function serverHandshake(
  socket: net.Socket,
  key: Buffer,
  fail: (reason: string) => void,
  unix = false,
): Handshake {
  const r = new Reader();
  let cN: Buffer | undefined;
  let sN: Buffer | undefined;
  let done = false;
  const timer = setTimeout(() => fail('handshake timeout'), HANDSHAKE_TIMEOUT_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  if (!unix && !isLoopback(socket.remoteAddress ?? '')) {
    clearTimeout(timer);
    queueMicrotask(() => fail(`peer ${socket.remoteAddress} is not on loopback`));
  }
  return {
    push(chunk) {
      if (done) return true;
      r.push(chunk);
      if (!cN) {
        // Anything else (a bare frame, a TLS hello) is refused as soon as its first 8 bytes are in.
        const magic = r.peek(LOOPBACK_AUTH_MAGIC.length);
        if (magic && !magic.equals(LOOPBACK_AUTH_MAGIC)) {
          clearTimeout(timer);
          fail('not a Floe handshake');
          return false;
        }
        const hello = r.take(LOOPBACK_AUTH_MAGIC.length + NONCE);
        if (!hello) return false;
        cN = Buffer.from(hello.subarray(LOOPBACK_AUTH_MAGIC.length));
        sN = randomBytes(NONCE);
        socket.write(Buffer.concat([LOOPBACK_AUTH_MAGIC, sN, mac(key, 's', cN, sN)]));
      }
      const proof = r.take(MAC);
      if (!proof) return false;
      clearTimeout(timer);
      if (!timingSafeEqual(proof, mac(key, 'c', cN, sN as Buffer))) {
        fail('wrong proof');
        return false;
      }
      done = true;
      return true;
    },
    rest: () => r.rest(),
  };
}

/** The client's side: sends its hello now; `push` answers the server's proof with its own. */
export function clientHandshake(socket: net.Socket, key: Buffer, fail: (reason: string) => void): Handshake {
  const r = new Reader();
  const cN = randomBytes(NONCE);
  let done = false;
  socket.write(Buffer.concat([LOOPBACK_AUTH_MAGIC, cN]));
  return {
    push(chunk) {
      if (done) return true;
      r.push(chunk);
      const magic = r.peek(LOOPBACK_AUTH_MAGIC.length);
      if (magic && !magic.equals(LOOPBACK_AUTH_MAGIC)) {
        // A TLS record back (alert 0x15): the port is bound to a non-loopback address, where
        // it speaks TLS only; dialing it on loopback can't work.
        fail(
          magic[0] === 0x15 || magic[0] === 0x16
            ? 'the server speaks TLS (it is bound to a non-loopback address): dial it at that address'
            : 'the server is not a Floe frame server',
        );
        return false;
      }
      const answer = r.take(LOOPBACK_AUTH_MAGIC.length + NONCE + MAC);
      if (!answer) return false;
      const sN = answer.subarray(LOOPBACK_AUTH_MAGIC.length, LOOPBACK_AUTH_MAGIC.length + NONCE);
      if (!timingSafeEqual(answer.subarray(LOOPBACK_AUTH_MAGIC.length + NONCE), mac(key, 's', cN, sN))) {
        fail('the server did not prove it holds the cluster key');
        return false;
      }
      socket.write(mac(key, 'c', cN, sN));
      done = true;
      return true;
    },
    rest: () => r.rest(),
  };
}
