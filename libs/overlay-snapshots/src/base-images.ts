import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { FailedPreconditionError, FloeError } from '@floe/contracts';
import type { ImageConfig, ImageStore } from './image-store.js';
import { type TarWriteEntry, TarWriter } from './tar-writer.js';

/** A base image the project builds from host binaries. */
export interface BaseImageSpec {
  ref: string;
  config: ImageConfig;
  /** Fill the layer; must be deterministic for a given host. */
  build(layer: LayerBuilder): void;
}

export interface BaseImageResult {
  ref: string;
  built: boolean;
  ms: number;
  diffID?: string;
  bytes?: number;
}

const PATH_ENV = 'PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';

/**
 * Raised when a recipe changes what its layer holds (2: .pyc headers record mtime 0), so that
 * an existing state dir rebuilds the image instead of keeping the old one under the same ref.
 */
export const BASE_RECIPE_LABEL = 'dev.floe.base-recipe';
const RECIPE = '2';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\n';

const PYC = /(^|\/)__pycache__\/[^/]+\.pyc$/;

/**
 * Every file of a base layer has mtime 0, so a timestamp-checked .pyc (PEP 552 flags 0, which
 * records its source's mtime and size) would never match its source again: Python would
 * compile each imported stdlib module from source on every start (~200 ms of the python
 * runtime's cold start here), and never cache it (read-only, PYTHONDONTWRITEBYTECODE). The
 * recorded mtime becomes 0 as well; hash-based .pyc files are left alone.
 */
export function pycForMtimeZero(b: Buffer): Buffer {
  if (b.length < 16 || b.readUInt32LE(4) !== 0) return b;
  const out = Buffer.from(b);
  out.writeUInt32LE(0, 8);
  return out;
}

/**
 * Collects entries for one layer: host files mirrored at their own paths (symlinked path
 * components, like Debian's merged-usr `/lib -> usr/lib`, become symlinks in the layer too),
 * plus synthesized files. Everything is root-owned with mtime 0 and written in sorted order,
 * so the same host binaries always give the same diffID.
 */
export class LayerBuilder {
  private readonly entries = new Map<string, TarWriteEntry>();

  private dirsFor(rel: string): void {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!this.entries.has(d)) this.entries.set(d, { name: d, type: 'dir', mode: 0o755 });
    }
  }

  add(e: TarWriteEntry): void {
    const rel = e.name.replace(/^\/+/, '').replace(/\/+$/, '');
    this.dirsFor(rel);
    this.entries.set(rel, { ...e, name: rel, uid: 0, gid: 0, mtime: 0 });
  }

  text(rel: string, body: string, mode = 0o644): void {
    this.add({ name: rel, type: 'file', body: Buffer.from(body), mode });
  }

  /** Copy host file `host` to `rel` (following symlinks: the content lands at `rel`). */
  file(rel: string, host: string): void {
    const st = fs.statSync(host);
    if (PYC.test(rel)) {
      this.add({
        name: rel,
        type: 'file',
        body: pycForMtimeZero(fs.readFileSync(host)),
        mode: st.mode & 0o7777,
      });
      return;
    }
    this.add({ name: rel, type: 'file', bodyPath: host, size: st.size, mode: st.mode & 0o7777 });
  }

  /** Mirror a host path at the same path, recreating symlinks on the way. */
  hostPath(p: string, filter: (p: string) => boolean = () => true, depth = 0): void {
    if (depth > 40) throw new FailedPreconditionError(`base image: symlink loop at ${p}`);
    const parts = path.resolve(p).split('/').filter(Boolean);
    let cur = '';
    for (const [i, part] of parts.entries()) {
      cur += `/${part}`;
      const st = fs.lstatSync(cur);
      if (st.isSymbolicLink()) {
        const link = fs.readlinkSync(cur);
        this.add({ name: cur, type: 'symlink', linkname: link });
        const rest = parts.slice(i + 1).join('/');
        const target = path.resolve(path.dirname(cur), link);
        this.hostPath(rest ? `${target}/${rest}` : target, filter, depth + 1);
        return;
      }
      if (i < parts.length - 1) continue;
      if (st.isDirectory()) {
        this.add({ name: cur, type: 'dir', mode: st.mode & 0o7777 });
        for (const n of fs.readdirSync(cur).sort()) {
          const child = `${cur}/${n}`;
          if (!filter(child)) continue;
          const cst = fs.lstatSync(child);
          if (cst.isSymbolicLink())
            this.add({ name: child, type: 'symlink', linkname: fs.readlinkSync(child) });
          else if (cst.isDirectory() || cst.isFile()) this.hostPath(child, filter, depth);
        }
      } else if (st.isFile()) {
        this.file(cur, cur);
      }
    }
  }

  /** The binaries plus every shared library `ldd` reports, and the dynamic loader. */
  withLibs(binaries: string[]): void {
    const out = execFileSync('ldd', binaries, { encoding: 'utf8' });
    for (const b of binaries) this.hostPath(b);
    const libs = new Set<string>();
    for (const line of out.split('\n')) {
      const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s+(\/\S+)\s+\(/.exec(line);
      if (m) libs.add(m[1]!);
    }
    for (const l of [...libs].sort()) this.hostPath(l);
  }

  baseFiles(): void {
    this.text('etc/passwd', PASSWD);
    this.text('etc/group', GROUP);
    this.add({ name: 'tmp', type: 'dir', mode: 0o1777 });
  }

  /** Write the layer tar to `file`; returns its diffID (sha256 of exactly these bytes). */
  async write(file: string): Promise<{ diffID: string; bytes: number }> {
    const hash = createHash('sha256');
    const fd = fs.openSync(file, 'w', 0o600);
    let bytes = 0;
    const out = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        fs.write(fd, chunk, (err) => cb(err));
      },
      final(cb) {
        fs.close(fd, (err) => cb(err));
      },
    });
    const w = new TarWriter(out);
    for (const name of [...this.entries.keys()].sort()) await w.add(this.entries.get(name)!);
    await w.finish();
    return { diffID: `sha256:${hash.digest('hex')}`, bytes };
  }
}

function busybox(): BaseImageSpec {
  return {
    ref: 'floe/busybox:latest',
    config: { Cmd: ['/bin/sh'], Env: [PATH_ENV] },
    build(l) {
      l.file('bin/busybox', fs.realpathSync('/bin/busybox'));
      const applets = execFileSync(fs.realpathSync('/bin/busybox'), ['--list-full'], { encoding: 'utf8' });
      for (const a of applets.split('\n').filter(Boolean)) {
        if (a !== 'bin/busybox') l.add({ name: a, type: 'symlink', linkname: '/bin/busybox' });
      }
      l.add({ name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' });
      l.baseFiles();
    },
  };
}

function node(): BaseImageSpec {
  const bin = fs.realpathSync(process.execPath);
  return {
    ref: 'floe/node:latest',
    config: { Entrypoint: [bin], Env: [PATH_ENV] },
    build(l) {
      l.withLibs([bin]);
      l.baseFiles();
    },
  };
}

const PY_SKIP = new Set(['test', 'idlelib', 'tkinter', 'turtledemo', 'ensurepip', 'lib2to3', 'pydoc_data']);

function python(): BaseImageSpec {
  const bin = '/usr/bin/python3.11';
  const lib = '/usr/lib/python3.11';
  return {
    ref: 'floe/python:latest',
    config: { Entrypoint: [bin], Env: [PATH_ENV, 'PYTHONDONTWRITEBYTECODE=1'] },
    build(l) {
      const dynload = `${lib}/lib-dynload`;
      const exts = fs
        .readdirSync(dynload)
        .filter((n) => n.endsWith('.so'))
        .map((n) => `${dynload}/${n}`);
      l.withLibs([bin, ...exts]);
      // Keep the stdlib's compiled bytecode (faster cold imports), drop optimized variants.
      l.hostPath(lib, (p) => {
        const base = path.basename(p);
        if (path.dirname(p) === lib && (PY_SKIP.has(base) || base.startsWith('config-'))) return false;
        return !/\.opt-\d\.pyc$/.test(base);
      });
      if (fs.existsSync('/etc/python3.11')) l.hostPath('/etc/python3.11');
      l.add({ name: 'usr/bin/python3', type: 'symlink', linkname: 'python3.11' });
      l.baseFiles();
    },
  };
}

export function defaultBaseImages(): BaseImageSpec[] {
  return [busybox(), node(), python()];
}

/**
 * Build each base image once, through the same verified import path as archives, and
 * point its ref at it. Cheap when they exist (one ref lookup each). An image built by an older
 * recipe is rebuilt and the ref moved; the old one goes at the next GC once nothing uses it.
 */
export async function ensureBaseImages(
  store: ImageStore,
  specs: BaseImageSpec[] = defaultBaseImages(),
  recipe = RECIPE,
): Promise<BaseImageResult[]> {
  const out: BaseImageResult[] = [];
  for (const spec of specs) {
    const t0 = performance.now();
    const current = await store.resolve(spec.ref);
    if (current && current.config.Labels?.[BASE_RECIPE_LABEL] === recipe) {
      out.push({ ref: spec.ref, built: false, ms: performance.now() - t0 });
      continue;
    }
    const layer = new LayerBuilder();
    try {
      spec.build(layer);
    } catch (e) {
      // A host without python3.11 (say) should say which image and why, not just ENOENT.
      throw new FloeError('FAILED_PRECONDITION', `build base image ${spec.ref}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const dir = store.layers.tempDir('base');
    try {
      const tar = `${dir}/layer.tar`;
      const { diffID, bytes } = await layer.write(tar);
      const config = Buffer.from(
        JSON.stringify({
          architecture: process.arch === 'x64' ? 'amd64' : process.arch,
          os: 'linux',
          config: { ...spec.config, Labels: { ...spec.config.Labels, [BASE_RECIPE_LABEL]: recipe } },
          rootfs: { type: 'layers', diff_ids: [diffID] },
        }),
      );
      await store.importSource({
        config: { bytes: config, digest: `sha256:${createHash('sha256').update(config).digest('hex')}` },
        layers: [{ open: () => fs.createReadStream(tar, { highWaterMark: 1 << 20 }) }],
        ref: spec.ref,
      });
      out.push({ ref: spec.ref, built: true, ms: performance.now() - t0, diffID, bytes });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
}
