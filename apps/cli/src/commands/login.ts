import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parse } from '../argv.js';
import { canonicalUrl, type GatewayLogin, saveConfig } from '../config-store.js';
import type { Context } from '../context.js';
import { apiError, CliError, EXIT, UsageError } from '../errors.js';
import { GatewayClient } from '../gateway-client.js';
import { changedCertificateError, probeCertificate } from '../tls-pin.js';

export const usage = `floe login [url] [-u user] [-p password | --password-stdin] [--yes] [--trust-new-cert]
  Saves the gateway URL and credentials in ~/.config/floe/config.json (0600). A certificate no
  trusted CA signed is shown by its SHA-256 fingerprint and pinned (trust on first use); a later
  change of certificate is refused. Without a password, the local platform's
  .floe/gateway/admin-credentials (or $FLOE_STATE_DIR's) is used when readable.`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** `user:password` of a platform started on this machine, if this user may read it. */
function localCredentials(env = process.env): [string, string] | undefined {
  const dirs = [env.FLOE_STATE_DIR, path.resolve('.floe')].filter(Boolean) as string[];
  for (const d of dirs) {
    try {
      const text = readFileSync(path.join(d, 'gateway/admin-credentials'), 'utf8').trim();
      const i = text.indexOf(':');
      if (i > 0) return [text.slice(0, i), text.slice(i + 1)];
    } catch {}
  }
  return undefined;
}

export async function login(ctx: Context, args: string[]): Promise<number> {
  const { positionals, flags } = parse(
    args,
    {
      user: { type: 'string', short: 'u' },
      password: { type: 'string', short: 'p' },
      'password-stdin': { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
      'trust-new-cert': { type: 'boolean' },
    },
    'login',
  );
  if (positionals.length > 1) throw new UsageError(`login: one URL at most\n${usage}`);
  const url = canonicalUrl(positionals[0] ?? ctx.gatewayUrl ?? 'https://localhost:8443');
  const previous = ctx.config.gateways[url];
  const local = localCredentials();
  const user = (flags.user as string | undefined) ?? previous?.user ?? local?.[0] ?? 'admin';
  let password = flags['password-stdin'] ? await readStdin() : (flags.password as string | undefined);
  password ??= process.env.FLOE_PASSWORD ?? local?.[1] ?? previous?.password;
  if (!password) throw new UsageError('login: no password: pass -p, --password-stdin or set FLOE_PASSWORD');

  const next: GatewayLogin = { url, user, password };
  if (url.startsWith('https:')) {
    const cert = await probeCertificate(url);
    if (previous?.pin && previous.pin.sha256 !== cert.sha256 && !flags['trust-new-cert'])
      throw changedCertificateError(url, previous.pin.sha256, cert.sha256);
    if (!cert.trusted) {
      if (previous?.pin?.sha256 !== cert.sha256) {
        ctx.o.err(
          `The certificate of ${url} is not signed by a trusted CA (${cert.subject.replace(/\n/g, ', ')}).\n` +
            `  SHA-256 fingerprint: ${cert.sha256}\n`,
        );
        if (process.stdin.isTTY && !flags.yes) {
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await rl.question('Trust it and pin it for this gateway? [y/N] ');
          rl.close();
          if (!/^y(es)?$/i.test(answer.trim()))
            throw new CliError('login: certificate not trusted', EXIT.tls);
        }
        ctx.o.err('Pinned: later connections refuse any other certificate.\n');
      }
      next.pin = { sha256: cert.sha256, pem: cert.pem };
    }
  }
  // faas-cli checks credentials the same way: an authenticated list.
  const client = new GatewayClient(next);
  try {
    const r = await client.request('GET', '/system/functions');
    if (r.status >= 400) throw apiError(r.status, r.body);
  } finally {
    client.close();
  }
  ctx.config.gateways[url] = next;
  ctx.config.current = url;
  const file = saveConfig(ctx.config, ctx.configDir);
  if (ctx.o.json)
    ctx.o.out(`${JSON.stringify({ url, user, pinned: next.pin?.sha256 ?? null, config: file })}\n`);
  else
    ctx.o.out(`Logged in to ${url} as ${user}${next.pin ? ' (certificate pinned)' : ''}; saved in ${file}\n`);
  return EXIT.ok;
}
