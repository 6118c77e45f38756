import { readFileSync } from 'node:fs';
import { parse } from '../argv.js';
import type { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { table } from '../output.js';

export const usage = `floe secret create NAME [VALUE | --from-file F]   (else the value is read from stdin)
floe secret update NAME [VALUE | --from-file F]
floe secret ls [--namespace ns]
floe secret rm NAME [--namespace ns]
  A function lists a secret in its deployment (--secret NAME) and reads /var/openfaas/secrets/NAME.`;

async function stdinBytes(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function secret(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { positionals, flags } = parse(
    rest,
    { namespace: { type: 'string', short: 'n' }, 'from-file': { type: 'string' } },
    `secret ${sub ?? ''}`,
  );
  const ns = flags.namespace as string | undefined;
  const q = ns ? `?namespace=${encodeURIComponent(ns)}` : '';
  const client = ctx.client();
  try {
    switch (sub) {
      case 'create':
      case 'update': {
        const name = positionals[0];
        if (!name || positionals.length > 2) throw new UsageError(`secret ${sub}: usage:\n${usage}`);
        const bytes =
          positionals[1] !== undefined
            ? Buffer.from(positionals[1])
            : flags['from-file']
              ? readFileSync(flags['from-file'] as string)
              : await stdinBytes();
        // rawValue keeps binary secrets intact; OpenFaaS accepts either form.
        await client.json(sub === 'create' ? 'POST' : 'PUT', '/system/secrets', {
          name,
          rawValue: bytes.toString('base64'),
          ...(ns ? { namespace: ns } : {}),
        });
        ctx.o.out(
          ctx.o.json
            ? `${JSON.stringify({ [sub === 'create' ? 'created' : 'updated']: name })}\n`
            : `Secret ${name} ${sub}d\n`,
        );
        return EXIT.ok;
      }
      case 'ls':
      case 'list': {
        const list = await client.json<{ name: string; namespace?: string }[]>('GET', `/system/secrets${q}`);
        ctx.o.out(
          ctx.o.json
            ? `${JSON.stringify(list)}\n`
            : table(
                ['NAME'],
                list.map((s) => [s.name]),
              ),
        );
        return EXIT.ok;
      }
      case 'rm':
      case 'remove': {
        const name = positionals[0];
        if (!name) throw new UsageError(`secret rm: usage:\n${usage}`);
        await client.json('DELETE', '/system/secrets', { name, ...(ns ? { namespace: ns } : {}) });
        ctx.o.out(ctx.o.json ? `${JSON.stringify({ removed: name })}\n` : `Secret ${name} removed\n`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(`secret: expected create, update, ls or rm\n${usage}`);
    }
  } finally {
    client.close();
  }
}
