import type { FunctionStatus, FunctionVersionSummary } from '@floe/contracts';
import { parse } from '../argv.js';
import type { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { table } from '../output.js';

export const usage = {
  ls: 'floe ls [--namespace ns]            functions: name, runtime or image, replicas, invocations, version',
  describe: 'floe describe NAME [--namespace ns]',
  rm: 'floe rm NAME [--namespace ns]',
  versions: 'floe versions NAME [--namespace ns]  the immutable versions, newest first',
  rollback: 'floe rollback NAME VERSION [--namespace ns]',
};

const nsSpec = { namespace: { type: 'string', short: 'n' } } as const;
const nsQuery = (ns: unknown) => (typeof ns === 'string' && ns ? `?namespace=${encodeURIComponent(ns)}` : '');

function one(command: keyof typeof usage, args: string[], count = 1) {
  const { positionals, flags } = parse(args, nsSpec, command);
  if (positionals.length !== count) throw new UsageError(`${command}: usage: ${usage[command]}`);
  return { positionals, q: nsQuery(flags.namespace) };
}

export async function ls(ctx: Context, args: string[]): Promise<number> {
  const { positionals, flags } = parse(args, nsSpec, 'ls');
  if (positionals.length) throw new UsageError(`ls: usage: ${usage.ls}`);
  const list = await ctx
    .client()
    .json<FunctionStatus[]>('GET', `/system/functions${nsQuery(flags.namespace)}`);
  if (ctx.o.json) ctx.o.out(`${JSON.stringify(list)}\n`);
  else
    ctx.o.out(
      table(
        ['NAME', 'RUNTIME/IMAGE', 'REPLICAS', 'INVOCATIONS', 'VERSION'],
        list
          .sort((a, b) => (a.name < b.name ? -1 : 1))
          .map((f) => [
            f.name,
            f.runtime && f.runtime !== 'image' ? f.runtime : (f.image ?? ''),
            `${f.availableReplicas}/${f.replicas}`,
            String(f.invocationCount ?? 0),
            String(f.version ?? ''),
          ]),
      ),
    );
  ctx.client().close();
  return EXIT.ok;
}

export async function describe(ctx: Context, args: string[]): Promise<number> {
  const { positionals, q } = one('describe', args);
  const f = await ctx.client().json<FunctionStatus>('GET', `/system/function/${positionals[0]}${q}`);
  ctx.client().close();
  if (ctx.o.json) {
    ctx.o.out(`${JSON.stringify(f)}\n`);
    return EXIT.ok;
  }
  const rows: [string, string][] = [
    ['Name', f.name],
    ['Namespace', f.namespace],
    ['Runtime', f.runtime ?? 'image'],
    ['Image', f.image ?? ''],
    ['Handler', f.handler ?? f.envProcess ?? ''],
    ['Version', String(f.version ?? '')],
    ['Replicas', String(f.replicas)],
    ['Available replicas', String(f.availableReplicas)],
    ['Invocations', String(f.invocationCount ?? 0)],
    ['Created', f.createdAt ?? ''],
    [
      'Labels',
      Object.entries(f.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
    ],
    [
      'Annotations',
      Object.entries(f.annotations ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
    ],
    ['Env', Object.keys(f.envVars ?? {}).join(', ')],
    ['Secrets', (f.secrets ?? []).join(', ')],
    ['Limits', f.limits ? JSON.stringify(f.limits) : ''],
    ['URL', `${ctx.client().url}/function/${f.name}`],
  ];
  ctx.o.out(
    rows
      .filter(([, v]) => v !== '')
      .map(([k, v]) => `${`${k}:`.padEnd(20)}${v}\n`)
      .join(''),
  );
  return EXIT.ok;
}

export async function rm(ctx: Context, args: string[]): Promise<number> {
  const { positionals, flags } = parse(args, nsSpec, 'rm');
  if (positionals.length !== 1) throw new UsageError(`rm: usage: ${usage.rm}`);
  await ctx.client().json('DELETE', '/system/functions', {
    functionName: positionals[0],
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
  });
  ctx.client().close();
  ctx.o.out(ctx.o.json ? `${JSON.stringify({ removed: positionals[0] })}\n` : `Removed ${positionals[0]}\n`);
  return EXIT.ok;
}

export async function versions(ctx: Context, args: string[]): Promise<number> {
  const { positionals, q } = one('versions', args);
  const list = await ctx
    .client()
    .json<FunctionVersionSummary[]>('GET', `/floe/functions/${positionals[0]}/versions${q}`);
  ctx.client().close();
  if (ctx.o.json) ctx.o.out(`${JSON.stringify(list)}\n`);
  else
    ctx.o.out(
      table(
        ['VERSION', 'CREATED', 'ACTIVE', 'RUNTIME/IMAGE'],
        list.map((v) => [
          String(v.version),
          v.createdAt,
          v.active ? '*' : '',
          v.runtime && v.runtime !== 'image' ? v.runtime : (v.image ?? ''),
        ]),
      ),
    );
  return EXIT.ok;
}

export async function rollback(ctx: Context, args: string[]): Promise<number> {
  const { positionals, q } = one('rollback', args, 2);
  const version = Number(positionals[1]);
  if (!Number.isInteger(version) || version < 1)
    throw new UsageError(`rollback: VERSION ${positionals[1]}: expected a version number`);
  const r = await ctx.client().json('POST', `/floe/functions/${positionals[0]}/rollback${q}`, { version });
  ctx.client().close();
  ctx.o.out(
    ctx.o.json
      ? `${JSON.stringify(r ?? { version })}\n`
      : `${positionals[0]}: version ${version} is active\n`,
  );
  return EXIT.ok;
}
