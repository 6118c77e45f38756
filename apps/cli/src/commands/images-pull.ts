import type { AgentPullResult, ImagePullEvent } from '@floe/contracts';
import type { Context } from '../context.js';
import { apiError, CliError, EXIT } from '../errors.js';
import type { GatewayClient } from '../gateway-client.js';
import { bytes } from '../output.js';
import { Progress } from '../progress.js';
import { PullTally } from '../pull-tally.js';

type Done = Extract<ImagePullEvent, { type: 'done' }>;
type StreamError = { type: 'error'; status: number; error: { code?: string; message?: string } };

/**
 * `floe images pull REF`: POST /floe/images/pull, then the NDJSON events drawn as one bar (all
 * agents' bytes) on a TTY, plain lines otherwise; `--json` prints only the final object. Exit
 * 0 when every agent has the image, 1 when any failed, 3 when the gateway refused the ref.
 */
export async function pullImage(
  ctx: Context,
  client: GatewayClient,
  image: string,
  opts: { namespace?: string; agents?: string[] },
): Promise<number> {
  const res = await client.open('POST', '/floe/images/pull', {
    body: JSON.stringify({
      image,
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
      ...(opts.agents?.length ? { agents: opts.agents } : {}),
    }),
    headers: { 'content-type': 'application/json' },
  });
  const status = res.statusCode ?? 0;
  if (status >= 400) {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    throw apiError(status, Buffer.concat(chunks));
  }
  const tally = new PullTally();
  let bar: Progress | undefined;
  let done: Done | undefined;
  let failure: StreamError | undefined;
  const onEvent = (e: ImagePullEvent | StreamError) => {
    switch (e.type) {
      case 'resolved':
        tally.add(e);
        if (!ctx.o.isTTY && !ctx.o.json)
          ctx.o.err(
            `${image}: ${e.digest}, ${e.layers.length} layer(s), ${bytes(e.size)}, on ${e.agents.join(', ')}\n`,
          );
        bar = new Progress(ctx.o, `${image}: pulling`, tally.total);
        break;
      case 'layer':
        bar?.update(tally.add(e));
        break;
      case 'agent':
        if (!ctx.o.isTTY && !ctx.o.json) ctx.o.err(`${e.agent}: ${outcome(e)}\n`);
        break;
      case 'done':
        done = e;
        break;
      case 'error':
        failure = e;
        break;
    }
  };
  let rest = '';
  for await (const c of res) {
    const lines = (rest + (c as Buffer).toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) onEvent(JSON.parse(l));
  }
  if (rest.trim()) onEvent(JSON.parse(rest));
  if (failure) {
    bar?.finish();
    throw apiError(failure.status, Buffer.from(JSON.stringify({ error: failure.error })));
  }
  if (!done) throw new CliError(`images pull: the gateway ended the stream before the pull finished`);
  bar?.finish();
  const failed = done.agents.filter((a) => !a.ok);
  if (ctx.o.json) ctx.o.out(`${JSON.stringify(done)}\n`);
  else {
    if (ctx.o.isTTY) for (const a of done.agents) ctx.o.err(`${a.agent}: ${outcome(a)}\n`);
    ctx.o.out(
      `Pulled ${done.image} ${done.digest} (${done.layers} layer(s), ${bytes(done.size)}) on ${
        done.agents
          .filter((a) => a.ok)
          .map((a) => a.agent)
          .join(', ') || 'no agent'
      }\n`,
    );
  }
  if (failed.length > 0) {
    if (ctx.o.json) return EXIT.failure;
    throw new CliError(
      `images pull: failed on ${failed.map((a) => `${a.agent} (${a.error?.code})`).join(', ')}`,
    );
  }
  return EXIT.ok;
}

function outcome(a: AgentPullResult): string {
  return a.ok ? `pulled in ${a.seconds.toFixed(1)} s` : `FAILED: ${a.error?.code}: ${a.error?.message}`;
}
