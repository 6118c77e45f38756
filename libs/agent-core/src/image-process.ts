import { type FunctionVersion, InvalidArgumentError } from '@floe/contracts';
import type { ImageRunConfig } from './ports.js';

/** Label (image) or annotation (deployment) naming the port an image function serves HTTP on. */
export const HTTP_PORT_KEY = 'com.floe.http-port';
/** The OpenFaaS container contract: a function image serves HTTP on 8080 unless told otherwise. */
export const DEFAULT_HTTP_PORT = 8080;

/** How the watchdog runs an image function, as the `load` frame tells it. */
export type ImageProcess =
  | {
      mode: 'server';
      /** The image's Entrypoint + Cmd, run as given; `sh -c handler` when empty. */
      argv: string[];
      handler: string;
      env: Record<string, string>;
      httpPort: number;
      /** of-watchdog's upstream: its /_/health says ready before the handler listens. */
      waitPorts?: number[];
      user?: string;
    }
  | { mode: 'exec'; handler: string; env: Record<string, string>; user?: string };

/**
 * Decides how an image deployment runs. An image with an Entrypoint or Cmd is an OpenFaaS
 * function image: that program is a long-lived HTTP server (classic watchdog, of-watchdog or
 * any server), so it runs once with the image's Env, WorkingDir and User, `envVars` over that
 * env and `fprocess=<envProcess>`, and calls are proxied to its port. An image with neither
 * runs Floe's exec watchdog around `envProcess` (or `handler`), a process per call.
 */
export function imageProcess(version: FunctionVersion, img: ImageRunConfig | undefined): ImageProcess {
  const dep = version.deployment;
  const env = imageEnv(img?.env);
  Object.assign(env, version.env);
  if (dep.envProcess) env.fprocess = dep.envProcess;
  const user = img?.user || undefined;
  const argv = [...(img?.entrypoint ?? []), ...(img?.cmd ?? [])];
  const declared = dep.annotations?.[HTTP_PORT_KEY] ?? img?.labels?.[HTTP_PORT_KEY];
  const fprocess = dep.envProcess || version.handler;
  if (argv.length === 0 && (declared === undefined || !fprocess))
    // A classic-watchdog image may name its process in its own `ENV fprocess`.
    return { mode: 'exec', handler: fprocess || env.fprocess || 'cat', env, ...(user ? { user } : {}) };
  const httpPort = dep.annotations?.[HTTP_PORT_KEY]
    ? portOf(dep.annotations[HTTP_PORT_KEY], `annotations.${HTTP_PORT_KEY}`)
    : env.port
      ? portOf(env.port, version.env.port !== undefined ? 'envVars.port' : 'image Env port')
      : portOf(img?.labels?.[HTTP_PORT_KEY] ?? String(DEFAULT_HTTP_PORT), `image label ${HTTP_PORT_KEY}`);
  const upstream = upstreamPort(env);
  return {
    mode: 'server',
    argv,
    handler: argv.length ? argv.map(shellQuote).join(' ') : (fprocess as string),
    env,
    httpPort,
    ...(upstream && upstream !== httpPort ? { waitPorts: [upstream] } : {}),
    ...(user ? { user } : {}),
  };
}

/** The loopback port of an of-watchdog's HTTP-mode upstream (`mode=http`, `upstream_url`). */
function upstreamPort(env: Record<string, string>): number | undefined {
  if (env.mode !== 'http' || !env.upstream_url) return undefined;
  try {
    const u = new URL(env.upstream_url);
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return undefined;
    return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  } catch {
    return undefined;
  }
}

/** An image's `KEY=value` list as a map; a later entry wins, as in a container runtime. */
function imageEnv(list: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of list ?? []) {
    const at = e.indexOf('=');
    if (at > 0) env[e.slice(0, at)] = e.slice(at + 1);
  }
  return env;
}

function portOf(raw: string, field: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new InvalidArgumentError(field, `expected a TCP port (1-65535), got ${JSON.stringify(raw)}`);
  return n;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
