import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createGzip } from 'node:zlib';
import { TarWriter } from '@floe/overlay-snapshots';
import ignore, { type Ignore } from 'ignore';

/** Never uploaded, whatever the ignore files say. */
const ALWAYS = ['.git/', '.floe/', '.openfaas/'];

export interface PackedFile {
  rel: string;
  abs: string;
  size: number;
  mode: number;
  type: 'file' | 'dir' | 'symlink';
  linkname?: string;
}

async function readIgnore(dir: string, name: string): Promise<string> {
  return fsp.readFile(path.join(dir, name), 'utf8').catch(() => '');
}

/**
 * The files of a function folder, in a stable order, honouring `.gitignore` and `.floeignore`
 * at any depth (gitignore semantics: a file's patterns apply below its own folder).
 * `exclude` adds patterns, e.g. `node_modules/` when the platform installs dependencies.
 */
export async function listFiles(root: string, exclude: string[] = []): Promise<PackedFile[]> {
  const out: PackedFile[] = [];
  const rules: { base: string; ig: Ignore }[] = [{ base: '', ig: ignore().add(ALWAYS).add(exclude) }];
  async function walk(rel: string): Promise<void> {
    const abs = path.join(root, rel);
    const own = `${await readIgnore(abs, '.gitignore')}\n${await readIgnore(abs, '.floeignore')}`;
    const pushed = own.trim() ? rules.push({ base: rel, ig: ignore().add(own) }) : 0;
    const entries = (await fsp.readdir(abs, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    );
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const isDir = e.isDirectory();
      const ignored = rules.some(({ base, ig }) => {
        const sub = base ? path.posix.relative(base, r) : r;
        return ig.ignores(isDir ? `${sub}/` : sub);
      });
      if (ignored) continue;
      const st = await fsp.lstat(path.join(root, r));
      if (st.isSymbolicLink()) {
        out.push({
          rel: r,
          abs: path.join(root, r),
          size: 0,
          mode: 0o777,
          type: 'symlink',
          linkname: await fsp.readlink(path.join(root, r)),
        });
      } else if (isDir) {
        out.push({ rel: r, abs: path.join(root, r), size: 0, mode: st.mode & 0o7777, type: 'dir' });
        await walk(r);
      } else if (st.isFile()) {
        out.push({ rel: r, abs: path.join(root, r), size: st.size, mode: st.mode & 0o7777, type: 'file' });
      }
    }
    if (pushed) rules.pop();
  }
  await walk('');
  return out;
}

/** A tar.gz of the files, in memory (bounded by the gateway's deploy limit, 64 MiB by default). */
export async function packTarGz(files: PackedFile[]): Promise<Buffer> {
  const gz = createGzip();
  const tarOut = new PassThrough();
  tarOut.pipe(gz);
  const chunks: Buffer[] = [];
  gz.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    gz.on('end', resolve);
    gz.on('error', reject);
  });
  const tar = new TarWriter(tarOut);
  for (const f of files) {
    if (f.type === 'file')
      await tar.add({
        name: f.rel,
        type: 'file',
        mode: f.mode,
        size: f.size,
        bodyStream: createReadStream(f.abs),
      });
    else if (f.type === 'dir') await tar.add({ name: f.rel, type: 'dir', mode: f.mode });
    else await tar.add({ name: f.rel, type: 'symlink', linkname: f.linkname });
  }
  await tar.finish();
  await ended;
  return Buffer.concat(chunks);
}
