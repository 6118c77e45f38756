import fs from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError } from '@floe/contracts';
import type { DepsRuntime } from '@floe/overlay-snapshots';

/** Where the installer's own files appear in the build sandbox (read-only binds). */
export const NPM_DIR = '/floe-build/npm';
export const PYLIB_DIR = '/floe-build/pylib';
/** The sandbox's working dir: the manifest files in, the installed tree out. */
export const BUILD_DIR = '/build';
/** pip's --target, inside BUILD_DIR: its content becomes the layer root. */
export const PY_TARGET = '.floe-site';
/** Where the host's CA bundle appears: a TLS-inspecting proxy's CA reaches the installers. */
export const CA_FILE = '/etc/ssl/certs/ca-certificates.crt';

/** Installer settings an operator can give the agent (FLOE_NPM_REGISTRY, FLOE_PIP_INDEX_URL). */
export interface InstallerSettings {
  npmRegistry?: string;
  pipIndexUrl?: string;
  /** Host npm (the dir holding bin/npm-cli.js); found next to node when absent. */
  npmDir?: string;
  /** Host dir holding the `pip` package (Debian's python3-pip). */
  pipDir?: string;
  /** Host CA bundle the installers trust (FLOE_BUILD_CA_FILE; default the system bundle). */
  caFile?: string;
}

export interface InstallerCommand {
  args: string[];
  env: string[];
  /** Host dirs bound read-only into the sandbox: `{ source, destination }`. */
  binds: Array<{ source: string; destination: string }>;
  /** The host-side dir, relative to the build dir, whose content is the layer. */
  output: string;
  /** What the layer root holds when `output` is a subdir (node: `node_modules`). */
  outputName?: string;
  /** For error messages: `npm ci`, `pip install`. */
  label: string;
}

/**
 * The install command per runtime, run as the sandbox's root in BUILD_DIR. Node: `npm ci
 * --omit=dev` with install scripts off (the sandbox has no shell or compiler to run them);
 * the layer is `node_modules/`. Python: `pip install -r requirements.txt --target`; the layer
 * root is the target, which sits at /code's root where the function's modules are found.
 */
export function installerCommand(
  runtime: DepsRuntime,
  s: InstallerSettings,
  bins: { node: string; python: string },
): InstallerCommand {
  const env = ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/tmp', 'LANG=C.UTF-8'];
  const ca = s.caFile ?? (fs.existsSync(CA_FILE) ? CA_FILE : undefined);
  const caBinds = ca ? [{ source: ca, destination: CA_FILE }] : [];
  if (ca) env.push(`NODE_EXTRA_CA_CERTS=${CA_FILE}`, `PIP_CERT=${CA_FILE}`, `SSL_CERT_FILE=${CA_FILE}`);
  if (runtime === 'node') {
    env.push('npm_config_cache=/tmp/.npm', 'npm_config_update_notifier=false', 'NODE_ENV=production');
    if (s.npmRegistry) env.push(`npm_config_registry=${s.npmRegistry}`);
    return {
      label: 'npm ci',
      args: [
        bins.node,
        `${NPM_DIR}/bin/npm-cli.js`,
        'ci',
        '--omit=dev',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--loglevel=http',
      ],
      env,
      binds: [{ source: s.npmDir ?? findNpm(), destination: NPM_DIR }, ...caBinds],
      output: 'node_modules',
      outputName: 'node_modules',
    };
  }
  const args = [
    bins.python,
    '-m',
    'pip',
    'install',
    '--no-cache-dir',
    '--disable-pip-version-check',
    '--no-input',
    '--progress-bar=off',
    '--target',
    `${BUILD_DIR}/${PY_TARGET}`,
    '-r',
    `${BUILD_DIR}/requirements.txt`,
  ];
  if (s.pipIndexUrl) {
    args.push('--index-url', s.pipIndexUrl);
    // An operator who names a plain-http index means it; pip refuses it otherwise.
    const u = new URL(s.pipIndexUrl);
    if (u.protocol === 'http:') args.push('--trusted-host', u.hostname);
  }
  env.push(`PYTHONPATH=${PYLIB_DIR}`, 'PYTHONUNBUFFERED=1');
  return {
    label: 'pip install',
    args,
    env,
    binds: [{ source: s.pipDir ?? findPip(), destination: `${PYLIB_DIR}/pip` }, ...caBinds],
    output: PY_TARGET,
  };
}

/** The host's npm: next to the node binary (nvm, tarballs) or where Debian and nodesource put it. */
export function findNpm(): string {
  const bin = path.dirname(fs.realpathSync(process.execPath));
  const candidates = [
    path.join(bin, '../lib/node_modules/npm'),
    '/usr/lib/node_modules/npm',
    '/usr/local/lib/node_modules/npm',
    '/usr/share/nodejs/npm',
  ];
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'bin/npm-cli.js')));
  if (!found)
    throw new FailedPreconditionError(
      `dependencies: no npm found for the build sandbox (looked in ${candidates.join(', ')}); set FLOE_NPM_DIR`,
    );
  return path.resolve(found);
}

/** Debian's python3-pip, importable by the base image's /usr/bin/python3.11. */
export function findPip(): string {
  const d = '/usr/lib/python3/dist-packages/pip';
  if (!fs.existsSync(path.join(d, '__main__.py')))
    throw new FailedPreconditionError(
      `dependencies: no pip at ${d} for the build sandbox (apt-get install python3-pip); set FLOE_PIP_DIR`,
    );
  return d;
}

/** The last `n` non-empty lines of installer output, for the deploy's error. */
export class Tail {
  private readonly lines: string[] = [];
  constructor(private readonly n = 20) {}
  push(line: string): void {
    if (!line.trim()) return;
    this.lines.push(line);
    if (this.lines.length > this.n) this.lines.shift();
  }
  text(): string {
    return this.lines.join('\n');
  }
}
