import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FloeError } from '@floe/contracts';

/** libs/agent-core, whether running from src (tests) or dist. */
export const agentCoreRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const bootstrapDir = path.join(agentCoreRoot, 'bootstraps');

/**
 * Compiles the static exec watchdog with the machine's `cc` when its source changed. Static,
 * because it runs inside any image (busybox has no libc to link against).
 */
export function ensureWatchdog(): string {
  const src = path.join(agentCoreRoot, 'native/floe-watchdog.c');
  const outDir = path.join(agentCoreRoot, 'native/build');
  const out = path.join(outDir, 'floe-watchdog');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  const stamp = path.join(outDir, 'floe-watchdog.hash');
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return out;
  mkdirSync(outDir, { recursive: true });
  try {
    execFileSync('cc', ['-static', '-O2', '-o', `${out}.tmp`, src], { stdio: 'pipe' });
  } catch (err) {
    throw new FloeError('INTERNAL', `building floe-watchdog with cc: ${(err as any).stderr ?? err}`, {
      cause: err,
    });
  }
  renameSync(`${out}.tmp`, out);
  writeFileSync(stamp, hash);
  return out;
}

/**
 * Compiles the python runtime (bootstraps/floe_runtime.py) into bootstraps/__pycache__ with
 * the python the base image runs: an imported module's bytecode is read from there (checked
 * against the source's mtime and size, which the read-only bind keeps), where a script is
 * compiled on every start (~3 ms). Only an optimization: without that python on the host, or
 * with the tree read-only, each start compiles it, as before. Returns why it could not, if so.
 */
export function ensurePythonBytecode(python = '/usr/bin/python3.11'): string | undefined {
  if (!existsSync(python)) return `no ${python} on this host`;
  const src = path.join(bootstrapDir, 'floe_runtime.py');
  try {
    execFileSync(
      python,
      ['-c', 'import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True)', src],
      {
        stdio: 'pipe',
        env: { PATH: '/usr/bin:/bin' },
      },
    );
    return undefined;
  } catch (err) {
    return `compiling ${src} with ${python}: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
}
