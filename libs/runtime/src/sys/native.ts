import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of `libs/runtime/native` (works from src/ and from dist/). */
export const NATIVE_SRC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../native');
export const NATIVE_BUILD_DIR = path.join(NATIVE_SRC_DIR, 'build');
export const SHIM_LIB = path.join(NATIVE_BUILD_DIR, 'libfloe-shim.so');
export const INIT_BIN = path.join(NATIVE_BUILD_DIR, 'floe-init');

const SOURCES = ['floe-shim.c', 'floe-init.c', 'ops.c', 'nolibc.c'];

function sourceHash(): string {
  const h = createHash('sha256');
  for (const f of SOURCES) h.update(fs.readFileSync(path.join(NATIVE_SRC_DIR, f)));
  return h.digest('hex').slice(0, 16);
}

let ensured: string | undefined;

/**
 * Compiles the shim and floe-init with the machine's `cc` when missing or when the sources
 * changed (hash stamp). Builds into a temp dir and renames each artifact into place so a
 * concurrent loader never sees a half-written library. Returns the build dir.
 */
export function ensureNative(): string {
  if (ensured) return ensured;
  const hash = sourceHash();
  const stamp = path.join(NATIVE_BUILD_DIR, '.hash');
  const current = fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8') : '';
  if (current !== hash || !fs.existsSync(SHIM_LIB) || !fs.existsSync(INIT_BIN)) {
    fs.mkdirSync(NATIVE_BUILD_DIR, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(NATIVE_BUILD_DIR, '.tmp-'));
    try {
      const cc = process.env.CC ?? 'cc';
      execFileSync(cc, [
        '-O2',
        '-Wall',
        '-fPIC',
        '-shared',
        // Bind every symbol at load: the vfork child must not enter the lazy resolver.
        '-Wl,-z,now',
        '-o',
        path.join(tmp, 'libfloe-shim.so'),
        path.join(NATIVE_SRC_DIR, 'floe-shim.c'),
        '-lpthread',
      ]);
      // floe-init is exec'd twice per start: on x86-64 without libc (see nolibc.c).
      const nolibc =
        process.arch === 'x64'
          ? [
              '-nostdlib',
              '-fno-stack-protector',
              '-fno-pie',
              '-no-pie',
              '-fno-builtin',
              '-fno-tree-loop-distribute-patterns',
              '-DFLOE_NOLIBC',
            ]
          : [];
      execFileSync(cc, [
        '-O2',
        '-Wall',
        '-static',
        ...nolibc,
        '-o',
        path.join(tmp, 'floe-init'),
        path.join(NATIVE_SRC_DIR, 'floe-init.c'),
      ]);
      fs.renameSync(path.join(tmp, 'libfloe-shim.so'), SHIM_LIB);
      fs.renameSync(path.join(tmp, 'floe-init'), INIT_BIN);
      fs.writeFileSync(stamp, hash);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  ensured = NATIVE_BUILD_DIR;
  return ensured;
}
