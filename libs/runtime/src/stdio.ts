import { NativeSyscalls } from './sys/ffi.js';
import type { Syscalls } from './sys/syscalls.js';

/**
 * A pipe2(O_CLOEXEC) pair for container stdio: pass `write` as `stdio.stdout`, close it in
 * the parent after create, and read with `new net.Socket({ fd: read })`.
 */
export function makePipe(sys: Syscalls = new NativeSyscalls()): { read: number; write: number } {
  const [read, write] = sys.pipe();
  return { read, write };
}
