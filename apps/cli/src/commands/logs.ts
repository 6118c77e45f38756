import { parse } from '../argv.js';
import type { Context } from '../context.js';
import { apiError, EXIT, UsageError } from '../errors.js';
import { durationMs } from './deploy.js';

export const usage = `floe logs NAME [-f] [--since 10m|RFC3339] [--tail N] [--namespace ns]
  Prints the function's log lines (stdout and stderr of its instances); -f follows.`;

export async function logs(ctx: Context, args: string[]): Promise<number> {
  const { positionals, flags } = parse(
    args,
    {
      follow: { type: 'boolean', short: 'f' },
      since: { type: 'string' },
      tail: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
    },
    'logs',
  );
  const name = positionals[0];
  if (!name || positionals.length > 1) throw new UsageError(`logs: one function name\n${usage}`);
  const q = new URLSearchParams({ name, follow: flags.follow ? 'true' : 'false' });
  if (flags.tail) q.set('tail', flags.tail as string);
  if (flags.namespace) q.set('namespace', flags.namespace as string);
  if (flags.since) {
    const s = flags.since as string;
    const at = /^\d+(\.\d+)?(ms|s|m|h)?$/.test(s)
      ? new Date(Date.now() - durationMs(s, 'since'))
      : new Date(s);
    if (Number.isNaN(at.getTime()))
      throw new UsageError(`--since ${s}: expected a duration (10m) or a time (RFC 3339)`);
    q.set('since', at.toISOString());
  }
  const client = ctx.client();
  const res = await client.open('GET', `/system/logs?${q}`);
  if ((res.statusCode ?? 0) >= 400) {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    throw apiError(res.statusCode ?? 0, Buffer.concat(chunks));
  }
  // NDJSON, one `{ name, namespace, instance, timestamp, text }` per line, as OpenFaaS sends it.
  let rest = '';
  for await (const chunk of res) {
    rest += (chunk as Buffer).toString('utf8');
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (line.trim()) ctx.o.out(ctx.o.json ? `${line}\n` : format(line));
      nl = rest.indexOf('\n');
    }
  }
  if (rest.trim()) ctx.o.out(ctx.o.json ? `${rest}\n` : format(rest));
  client.close();
  return EXIT.ok;
}

function format(line: string): string {
  try {
    const m = JSON.parse(line);
    return `${m.timestamp ?? ''} ${m.instance ?? m.name ?? ''} ${String(m.text ?? '').replace(/\n$/, '')}\n`;
  } catch {
    return `${line}\n`;
  }
}
