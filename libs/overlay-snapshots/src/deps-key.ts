import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InvalidArgumentError } from '@floe/contracts';
import { StreamSource } from './byte-source.js';
import { TarReader } from './tar-reader.js';

export type DepsRuntime = 'node' | 'python';

/** What a dependencies layer is built from, and the key it is stored under. */
export interface DepsSpec {
  runtime: DepsRuntime;
  /** `sha256:<hex>` of runtime + the lockfile's own hash: the layer's content address. */
  key: string;
  /** The file whose hash is the key (package-lock.json, npm-shrinkwrap.json, requirements.txt). */
  lockfile: string;
  /** Every file the installer reads, by name, as text. */
  files: Record<string, string>;
}

/** Bumped when the installer's command or layout changes, so old layers are not reused. */
const LAYOUT = 'floe-deps/1';
const NODE_LOCKS = ['npm-shrinkwrap.json', 'package-lock.json'];
/** Files read from a code archive's top level; anything larger is not a manifest. */
const WANTED = new Set(['package.json', ...NODE_LOCKS, 'requirements.txt']);
const MAX_FILE = 4 << 20;

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The layer key: the runtime and the lockfile's hash, nothing else (a code change keeps it). */
export function depsKey(runtime: DepsRuntime, lockfile: string): string {
  return `sha256:${sha256(`${LAYOUT}\0${runtime}\0${sha256(lockfile)}`)}`;
}

/**
 * The dependencies a function's top-level files ask for: node needs package.json and a
 * lockfile (`npm ci` refuses without one), python a requirements.txt. Undefined when there is
 * nothing to install (no manifest, or no lockfile next to package.json).
 */
export function depsSpec(runtime: string | undefined, files: Record<string, string>): DepsSpec | undefined {
  if (runtime === 'node') {
    const lockfile = NODE_LOCKS.find((f) => files[f] !== undefined);
    if (!lockfile || files['package.json'] === undefined) return undefined;
    return {
      runtime,
      key: depsKey(runtime, files[lockfile]!),
      lockfile,
      files: { 'package.json': files['package.json'], [lockfile]: files[lockfile]! },
    };
  }
  if (runtime === 'python') {
    const req = files['requirements.txt'];
    if (req === undefined || req.trim() === '') return undefined;
    return {
      runtime,
      key: depsKey(runtime, req),
      lockfile: 'requirements.txt',
      files: { 'requirements.txt': req },
    };
  }
  return undefined;
}

/** Top-level manifest files of a tar or tar.gz code archive (`./x` and `x` alike); zips give none. */
export async function readManifestFiles(archive: Buffer): Promise<Record<string, string>> {
  const gz = archive[0] === 0x1f && archive[1] === 0x8b;
  const tar = archive.length >= 262 && archive.subarray(257, 262).toString('latin1') === 'ustar';
  if (!gz && !tar) return {};
  const stream = gz ? Readable.from([archive]).pipe(createGunzip()) : Readable.from([archive]);
  const reader = new TarReader(new StreamSource(stream));
  const out: Record<string, string> = {};
  try {
    for (let e = await reader.next(); e; e = await reader.next()) {
      const name = e.name.replace(/^\.\//, '');
      if (e.type !== 'file' || !WANTED.has(name)) continue;
      if (e.size > MAX_FILE)
        throw new InvalidArgumentError('code', `${name} is ${e.size} bytes, more than ${MAX_FILE}`);
      out[name] = (await reader.readAll(MAX_FILE)).toString('utf8');
    }
  } finally {
    stream.destroy();
  }
  return out;
}
