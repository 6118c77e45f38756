import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from '../argv.js';
import type { Context } from '../context.js';
import { apiError, EXIT, UsageError } from '../errors.js';
import { bytes, table } from '../output.js';
import { Progress } from '../progress.js';
import { pullImage } from './images-pull.js';

export const usage = `floe images ls
floe images import FILE.tar [--ref name:tag]   a docker-save or OCI archive, streamed with progress
floe images pull REF [--namespace ns] [--agent id]...
                                               every live agent (or those named) pulls REF from its
                                               registry, with the namespace's credentials`;

interface ImageInfo {
  ref: string;
  digest?: string;
  sha256?: string;
  size?: number;
  bytes?: number;
  present?: string[] | Record<string, unknown>;
  state?: string;
}

export async function images(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { positionals, flags } = parse(
    rest,
    {
      ref: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      agent: { type: 'string', multiple: true },
    },
    `images ${sub ?? ''}`,
  );
  const client = ctx.client();
  try {
    switch (sub) {
      case 'ls':
      case 'list': {
        const list = await client.json<ImageInfo[] | { images: ImageInfo[] }>('GET', '/floe/images');
        const items = Array.isArray(list) ? list : list.images;
        if (ctx.o.json) ctx.o.out(`${JSON.stringify(items)}\n`);
        else
          ctx.o.out(
            table(
              ['REF', 'DIGEST', 'SIZE', 'PRESENT'],
              items.map((i) => [
                i.ref,
                (i.digest ?? i.sha256 ?? '').slice(0, 19),
                (i.size ?? i.bytes) ? bytes((i.size ?? i.bytes)!) : '',
                Array.isArray(i.present)
                  ? i.present.join(',')
                  : i.present
                    ? Object.keys(i.present).join(',')
                    : (i.state ?? ''),
              ]),
            ),
          );
        return EXIT.ok;
      }
      case 'import': {
        const file = positionals[0];
        if (!file) throw new UsageError(`images import: usage:\n${usage}`);
        const ref =
          (flags.ref as string | undefined) ??
          path
            .basename(file)
            .replace(/\.(oci|docker)?\.?tar$/, '')
            .replace(/\.tar$/, '');
        const size = statSync(file).size;
        const bar = new Progress(ctx.o, `${ref}: uploading`, size);
        const r = await client.request('POST', `/floe/images?ref=${encodeURIComponent(ref)}`, {
          body: createReadStream(file, { highWaterMark: 1 << 20 }),
          length: size,
          headers: { 'content-type': 'application/x-tar' },
          onProgress: (n) => bar.update(n),
        });
        bar.finish();
        if (r.status >= 400) throw apiError(r.status, r.body);
        const out = JSON.parse(r.body.toString('utf8'));
        ctx.o.out(ctx.o.json ? `${JSON.stringify(out)}\n` : `Imported ${out.ref ?? ref} (${bytes(size)})\n`);
        return EXIT.ok;
      }
      case 'pull': {
        const ref = positionals[0];
        if (!ref) throw new UsageError(`images pull: usage:\n${usage}`);
        return await pullImage(ctx, client, ref, {
          namespace: flags.namespace as string | undefined,
          agents: flags.agent as string[] | undefined,
        });
      }
      default:
        throw new UsageError(`images: expected ls, import or pull\n${usage}`);
    }
  } finally {
    client.close();
  }
}
