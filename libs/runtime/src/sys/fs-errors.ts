import fs from 'node:fs';
import os from 'node:os';
import { SyscallError } from '@floe/contracts';

/** Converts a Node fs error into a `SyscallError` naming the syscall and path. */
export function toSyscallError(err: unknown, syscall: string, path?: string, what?: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!e || typeof e.code !== 'string') return err;
  const errno = (os.constants.errno as Record<string, number>)[e.code] ?? Math.abs(e.errno ?? 0);
  const out = new SyscallError(syscall, errno, path ?? e.path, what);
  (out as { cause?: unknown }).cause = err;
  return out;
}

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

export function writeFile(path: string, data: string, what?: string): void {
  try {
    fs.writeFileSync(path, data);
  } catch (err) {
    throw toSyscallError(err, 'write', path, what);
  }
}

export async function writeFileAsync(path: string, data: string, what?: string): Promise<void> {
  try {
    await fs.promises.writeFile(path, data);
  } catch (err) {
    throw toSyscallError(err, 'write', path, what);
  }
}

export function readFile(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw toSyscallError(err, 'read', path);
  }
}

/** Parses `key value` lines (cpu.stat, memory.events, memory.oom_control). */
export function parseKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}
