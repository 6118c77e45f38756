// Installs whatever a fresh Debian 12 machine lacks, idempotently and fast on the second run:
// Debian packages, npm packages, the TypeScript build, the native shim and the base layers.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function log(msg) {
  process.stderr.write(`[floe] ${msg}\n`);
}

/** The state dir: FLOE_STATE_DIR, else <repo>/.floe (ignored by git). */
export function stateDir() {
  return process.env.FLOE_STATE_DIR ? path.resolve(process.env.FLOE_STATE_DIR) : path.join(root, '.floe');
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with status ${r.status ?? r.signal}`);
}

function installed(pkg) {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

/** Debian packages the platform and its tests use. */
export const APT_RUNTIME = [
  'redis-server',
  'busybox-static',
  'openssl',
  'python3-minimal',
  'libpython3.11-stdlib',
  'attr',
  'iproute2',
];
/** docker-registry, skopeo and apache2-utils (htpasswd): the real registry the pull tests and bench use. */
const APT_REGISTRY = ['docker-registry', 'skopeo', 'apache2-utils'];
export const APT_TEST = [...APT_RUNTIME, 'prometheus', 'nftables', ...APT_REGISTRY];
export const APT_BENCH = [...APT_RUNTIME, 'crun', 'runc', 'wrk', ...APT_REGISTRY];

export function ensureApt(pkgs) {
  const missing = pkgs.filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0)
    throw new Error(`missing Debian packages (${missing.join(' ')}); run as root`);
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  // The redis-server package starts a system service on install; Floe runs its own Redis.
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
  if (missing.includes('redis-server'))
    spawnSync('systemctl', ['disable', '--now', 'redis-server'], { stdio: 'ignore' });
}

function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

export function ensureNodeModules() {
  const marker = path.join(root, 'node_modules/.package-lock.json');
  if (
    mtime(marker) >= mtime(path.join(root, 'package-lock.json')) &&
    existsSync(path.join(root, 'node_modules/.bin/tsc'))
  )
    return;
  log('installing npm packages (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

export function build() {
  log('building TypeScript (tsc -b)');
  run(path.join(root, 'node_modules/.bin/tsc'), ['-b', 'tsconfig.build.json']);
}

export async function ensureNative() {
  const mod = await import(path.join(root, 'libs/runtime/dist/index.js'));
  const dir = mod.ensureNative();
  log(`native shim ready in ${path.relative(root, dir)}`);
}

export async function ensureBaseImages(dir = stateDir()) {
  const mod = await import(path.join(root, 'libs/overlay-snapshots/dist/index.js'));
  const t0 = Date.now();
  mkdirSync(dir, { recursive: true });
  const service = await mod.SnapshotService.open(dir);
  await service.ensureBaseImages();
  log(`base images ready (${Date.now() - t0} ms)`);
}

/** Everything `npm start` and `npm test` need before they run anything. */
export async function setup({ apt = APT_RUNTIME, baseImages = true } = {}) {
  ensureApt(apt);
  ensureNodeModules();
  build();
  await ensureNative();
  if (baseImages) await ensureBaseImages();
}

export function which(bin) {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}
