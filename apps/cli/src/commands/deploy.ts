import { randomBytes } from 'node:crypto';
import type { BuildLogResponse, FunctionStatus } from '@floe/contracts';
import { pairs, parse } from '../argv.js';
import type { Context } from '../context.js';
import { type DeployFlags, type DeployPlan, planFromFolder } from '../deploy-plan.js';
import { apiError, CliError, EXIT, UsageError } from '../errors.js';
import type { GatewayClient } from '../gateway-client.js';
import { deploymentForm } from '../multipart.js';
import { bytes } from '../output.js';
import { listFiles, packTarGz } from '../pack.js';
import { Progress } from '../progress.js';
import { planStack } from '../stack-file.js';

export const usage = `floe deploy [dir] [-f stack.yml [--filter name]] [--name n] [--runtime node|python|exec]
            [--handler h] [--image ref [--fprocess cmd]] [--env k=v]... [--secret s]... [--label k=v]...
            [--annotation k=v]... [--memory 64Mi] [--cpu 500m] [--timeout 5s] [--min n] [--max n]
            [--namespace ns] [--no-wait] [--wait-timeout 60s]
  Packs the folder (honouring .gitignore and .floeignore), uploads it, waits until the function
  has a ready replica, and prints its URL, version and start kind. package.json → node,
  requirements.txt or handler.py → python; -f deploys every function of a faas-cli stack file.`;

const spec = {
  file: { type: 'string', short: 'f' },
  filter: { type: 'string' },
  name: { type: 'string' },
  runtime: { type: 'string' },
  handler: { type: 'string' },
  image: { type: 'string' },
  fprocess: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  env: { type: 'string', short: 'e', multiple: true },
  secret: { type: 'string', multiple: true },
  label: { type: 'string', short: 'l', multiple: true },
  annotation: { type: 'string', multiple: true },
  memory: { type: 'string' },
  cpu: { type: 'string' },
  timeout: { type: 'string' },
  min: { type: 'string' },
  max: { type: 'string' },
  wait: { type: 'boolean' },
  'wait-timeout': { type: 'string' },
} as const;

export function durationMs(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new UsageError(`--${flag} ${v}: expected a duration such as 500ms, 30s or 2m`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

export async function deploy(ctx: Context, args: string[]): Promise<number> {
  const { positionals, flags } = parse(args, spec, 'deploy');
  if (positionals.length > 1) throw new UsageError(`deploy: one folder at most\n${usage}`);
  const f: DeployFlags = {
    name: flags.name as string | undefined,
    runtime: flags.runtime as string | undefined,
    handler: flags.handler as string | undefined,
    image: flags.image as string | undefined,
    fprocess: flags.fprocess as string | undefined,
    namespace: flags.namespace as string | undefined,
    env: pairs(flags.env as string[] | undefined, 'env'),
    secrets: flags.secret as string[] | undefined,
    labels: pairs(flags.label as string[] | undefined, 'label'),
    annotations: pairs(flags.annotation as string[] | undefined, 'annotation'),
    memory: flags.memory as string | undefined,
    cpu: flags.cpu as string | undefined,
    timeout: flags.timeout as string | undefined,
    min: flags.min as string | undefined,
    max: flags.max as string | undefined,
  };
  const plans = flags.file
    ? planStack(flags.file as string, f, flags.filter as string | undefined)
    : [planFromFolder(positionals[0] ?? '.', f)];
  const waitMs =
    flags.wait === false
      ? 0
      : durationMs((flags['wait-timeout'] as string | undefined) ?? '60s', 'wait-timeout');
  const client = ctx.client();
  const results = [];
  for (const plan of plans) results.push(await deployOne(ctx, client, plan, waitMs));
  if (ctx.o.json) ctx.o.out(`${JSON.stringify(plans.length === 1 && !flags.file ? results[0] : results)}\n`);
  client.close();
  return results.every((r) => r.ready || waitMs === 0) ? EXIT.ok : EXIT.failure;
}

async function deployOne(ctx: Context, client: GatewayClient, plan: DeployPlan, waitMs: number) {
  const d = plan.deployment;
  const q = d.namespace ? `?namespace=${encodeURIComponent(d.namespace)}` : '';
  const existing = await client.request('GET', `/system/function/${d.service}${q}`);
  if (existing.status >= 400 && existing.status !== 404) throw apiError(existing.status, existing.body);
  const method = existing.status === 404 ? 'POST' : 'PUT';
  let status: FunctionStatus;
  if (plan.dir) {
    const files = await listFiles(plan.dir);
    const code = await packTarGz(files);
    const form = deploymentForm(d, code);
    if (!ctx.o.json)
      ctx.o.err(
        `${d.service}: packed ${files.filter((x) => x.type === 'file').length} files from ${plan.dir} (${bytes(code.length)})\n`,
      );
    const bar = new Progress(ctx.o, `${d.service}: uploading`, form.body.length);
    const buildId = randomBytes(12).toString('base64url');
    const log = new BuildLogFollower(ctx, client, d.service, buildId);
    const pending = client.request(method, '/floe/functions', {
      body: form.body,
      headers: { 'content-type': form.contentType, 'x-floe-build-id': buildId },
      onProgress: (n) => {
        bar.update(n);
        // Uploaded: the gateway now has the code, and any install starts; follow its output.
        if (n >= form.body.length) {
          bar.finish();
          log.start();
        }
      },
    });
    let r: Awaited<typeof pending>;
    try {
      r = await pending;
    } finally {
      bar.finish();
      await log.stop();
    }
    if (r.status >= 400) throw apiError(r.status, r.body);
    status = JSON.parse(r.body.toString('utf8'));
    if (status.dependencies && !ctx.o.json) ctx.o.err(`${d.service}: dependencies: ${status.dependencies}\n`);
  } else {
    status = await client.json<FunctionStatus>(method, '/system/functions', d);
  }
  const version = status?.version;
  const url = `${client.url}/function/${d.service}${d.namespace ? `.${d.namespace}` : ''}`;
  if (!ctx.o.json)
    ctx.o.err(
      `${d.service}: ${method === 'POST' ? 'created' : 'updated'}${version ? `, version ${version}` : ''}\n`,
    );
  const ready = waitMs > 0 ? await waitReady(ctx, client, d.service, q, waitMs) : undefined;
  const start = ready && ready.availableReplicas > 0 ? 'warm' : 'cold';
  const result = {
    name: d.service,
    url,
    ...(status?.dependencies ? { dependencies: status.dependencies } : {}),
    version: ready?.version ?? version,
    ready: Boolean(ready && ready.availableReplicas > 0),
    availableReplicas: ready?.availableReplicas ?? 0,
    start,
  };
  if (!ctx.o.json) {
    const replicas = ready ? `${ready.availableReplicas} ready` : 'not waited for';
    ctx.o.out(`${url}  version ${result.version ?? '?'}  ${replicas}  next call: ${start} start\n`);
  }
  return result;
}

/**
 * Prints a deploy's dependencies install output as it comes: polls the build log the
 * gateway keeps under the deploy's `X-Floe-Build-Id` until the deploy has answered.
 */
class BuildLogFollower {
  private next = 0;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly ctx: Context,
    private readonly client: GatewayClient,
    private readonly name: string,
    private readonly id: string,
  ) {}

  start(): void {
    if (this.running || this.ctx.o.json) return;
    this.running = (async () => {
      while (!this.stopped) {
        await this.poll();
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
  }

  async stop(): Promise<void> {
    if (this.ctx.o.json) return;
    this.stopped = true;
    await this.running;
    // The last lines may land between the final poll and the deploy's answer.
    await this.poll();
  }

  private async poll(): Promise<void> {
    const r = await this.client
      .request('GET', `/floe/functions/builds/${this.id}/log?after=${this.next}`)
      .catch(() => undefined);
    if (!r || r.status !== 200) return;
    const page = JSON.parse(r.body.toString('utf8')) as BuildLogResponse;
    for (const line of page.lines) this.ctx.o.err(`${this.name}: | ${line}\n`);
    this.next = page.next;
  }
}

/** Polls describe until a replica is available (frozen and ready), or the wait runs out. */
async function waitReady(ctx: Context, client: GatewayClient, name: string, q: string, ms: number) {
  const deadline = Date.now() + ms;
  let last: FunctionStatus | undefined;
  while (Date.now() < deadline) {
    last = await client.json<FunctionStatus>('GET', `/system/function/${name}${q}`);
    const minScale = Number(last.labels?.['com.openfaas.scale.min'] ?? 1);
    if (last.availableReplicas > 0 || minScale === 0) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!ctx.o.json) ctx.o.err(`${name}: no replica ready within ${ms / 1000} s\n`);
  if (!last) throw new CliError(`${name}: describe never answered`, EXIT.failure);
  return last;
}
