// Percentiles and the small process helpers every case uses.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const buildDir = path.join(benchDir, 'build');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentiles in ms, rounded to µs: `{p50, p95, p99, n}`. */
export function summary(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const at = (p) => (s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : null);
  const r = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  return { p50: r(at(50)), p95: r(at(95)), p99: r(at(99)), n: s.length };
}

/** A clean environment for every process whose start we time (no NODE_EXTRA_CA_CERTS, no pyenv). */
export const CLEAN_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
};

/** Compiles bench/native/<name>.c into bench/build/<name> (static when asked). */
export function compile(name, { static: isStatic = false } = {}) {
  mkdirSync(buildDir, { recursive: true });
  const out = path.join(buildDir, name);
  execFileSync('cc', [
    '-O2',
    ...(isStatic ? ['-static'] : []),
    '-o',
    out,
    path.join(benchDir, 'native', `${name}.c`),
  ]);
  return out;
}

/**
 * Runs `argv` through bench/build/timeit (fork → exit, or → first stdout byte with `first`, or
 * → first byte of an HTTP answer on 127.0.0.1:`port`, after which the command is SIGKILLed),
 * optionally inside `unshare -m` with /sys/fs/cgroup/unified unmounted. Resolves ms per run;
 * throws on the first run that failed, with the command's stderr.
 */
export function timeit(argv, { n, first = false, port, hybridFree = false, env = CLEAN_ENV } = {}) {
  const timeitBin = path.join(buildDir, 'timeit');
  const mode = port ? ['-w', String(port)] : first ? ['-f'] : [];
  const inner = [timeitBin, '-n', String(n), ...mode, '--', ...argv];
  // One long-lived private mount namespace for all runs, so the unshare cost is not timed.
  const cmd = hybridFree
    ? [
        'unshare',
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        'umount /sys/fs/cgroup/unified && exec "$@"',
        'sh',
        ...inner,
      ]
    : inner;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], cmd.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const rows = out
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ').map(Number));
      const bad = rows.find(([ns, st]) => st !== 0 || ns < 0);
      if (code !== 0 || bad || rows.length !== n)
        return reject(
          new Error(
            `timed run of ${argv.join(' ')} failed (exit ${code}, status ${bad?.[1]}): ${err.slice(-500)}`,
          ),
        );
      resolve(rows.map(([ns]) => ns / 1e6));
    });
  });
}

/** rmdir of a cgroup parent (and any child a failed run left) in every hierarchy. */
export function removeCgroup(name) {
  for (const ctl of readdirSync('/sys/fs/cgroup')) {
    const dir = path.join('/sys/fs/cgroup', ctl, name);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory())
        try {
          rmdirSync(path.join(dir, e.name));
        } catch {}
    try {
      rmdirSync(dir);
    } catch {}
  }
}

const cleanups = new Set();
/**
 * Registers an undo step that must run even if the bench is interrupted (SIGINT/SIGTERM);
 * returns its unregister. Steps run newest first.
 */
export function onInterrupt(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export async function runInterruptCleanups() {
  for (const fn of [...cleanups].reverse()) {
    cleanups.delete(fn);
    try {
      await fn();
    } catch {}
  }
}
