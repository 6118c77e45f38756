import { headerPairs, parse } from '../argv.js';
import type { Context } from '../context.js';
import { apiError, EXIT, UsageError } from '../errors.js';

export const usage = `floe invoke NAME [--async] [-H 'Name: value']... [--method POST] [--query q=v] [--callback-url URL]
  Sends stdin as the body (nothing when stdin is a terminal) and writes the function's answer
  to stdout; a status and timing line goes to stderr. Exits 3 on a 4xx, 1 on a 5xx.`;

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function invoke(ctx: Context, args: string[]): Promise<number> {
  const { positionals, flags } = parse(
    args,
    {
      async: { type: 'boolean', short: 'a' },
      header: { type: 'string', short: 'H', multiple: true },
      method: { type: 'string', short: 'X' },
      query: { type: 'string', short: 'q', multiple: true },
      'callback-url': { type: 'string' },
      namespace: { type: 'string', short: 'n' },
    },
    'invoke',
  );
  const name = positionals[0];
  if (!name || positionals.length > 1) throw new UsageError(`invoke: one function name\n${usage}`);
  const headers = headerPairs(flags.header as string[] | undefined);
  if (flags['callback-url']) headers['x-callback-url'] = flags['callback-url'] as string;
  const qs = ((flags.query as string[] | undefined) ?? []).join('&');
  const target = `${name}${flags.namespace ? `.${flags.namespace}` : ''}`;
  const pathname = `/${flags.async ? 'async-function' : 'function'}/${target}${qs ? `?${qs}` : ''}`;
  const body = await readStdin();
  const method = ((flags.method as string | undefined) ?? 'POST').toUpperCase();
  const t0 = performance.now();
  const client = ctx.client();
  const r = await client.request(method, pathname, {
    body: method === 'GET' || method === 'HEAD' ? undefined : body,
    headers,
    auth: false,
  });
  client.close();
  const ms = performance.now() - t0;
  const start = r.headers['x-floe-start'];
  const callId = r.headers['x-call-id'];
  if (ctx.o.json) {
    ctx.o.out(
      `${JSON.stringify({ status: r.status, ms: Number(ms.toFixed(2)), start, callId, headers: r.headers, body: r.body.toString('utf8') })}\n`,
    );
  } else {
    ctx.o.out(r.body);
    ctx.o.err(
      `${r.status} in ${ms.toFixed(1)} ms${start ? `, ${start} start` : ''}${callId ? `, call ${callId}` : ''}\n`,
    );
  }
  if (r.status >= 400) {
    const e = apiError(r.status, r.body);
    if (!ctx.o.json) ctx.o.err(`error: ${e.message}\n`);
    return e.exitCode;
  }
  return EXIT.ok;
}
