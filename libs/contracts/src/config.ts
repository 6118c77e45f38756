import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A bad environment variable: the message names it, so a failed start says what to fix. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`config: ${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Reads environment variables once, into typed values. Every getter throws ConfigError
 * naming the variable on a bad value; apps build their whole config object at start.
 */
export class EnvReader {
  constructor(private readonly env: Env = process.env) {}

  string(name: string, def: string): string {
    const v = this.env[name];
    return v === undefined || v === '' ? def : v;
  }

  optional(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v === '' ? undefined : v;
  }

  int(name: string, def: number, range: { min?: number; max?: number } = {}): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return def;
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `expected an integer, got '${raw}'`);
    const n = Number(raw);
    if (range.min !== undefined && n < range.min)
      throw new ConfigError(name, `must be >= ${range.min}, got ${n}`);
    if (range.max !== undefined && n > range.max)
      throw new ConfigError(name, `must be <= ${range.max}, got ${n}`);
    return n;
  }

  port(name: string, def: number): number {
    return this.int(name, def, { min: 0, max: 65535 });
  }

  bool(name: string, def: boolean): boolean {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return def;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(name, `expected true or false, got '${raw}'`);
  }

  /** host:port; returns { host, port }. */
  address(name: string, def: string): { host: string; port: number } {
    const raw = this.string(name, def);
    const m = /^(.*):(\d+)$/.exec(raw);
    if (!m?.[1]) throw new ConfigError(name, `expected host:port, got '${raw}'`);
    const port = Number(m[2]);
    if (port > 65535) throw new ConfigError(name, `port out of range in '${raw}'`);
    return { host: m[1], port };
  }

  url(name: string): URL | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    try {
      return new URL(raw);
    } catch {
      throw new ConfigError(name, `expected a URL, got '${raw}'`);
    }
  }

  /** Byte sizes like `128m`, `1Gi`, `512k` or a plain number. */
  bytes(name: string, def: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return def;
    const n = parseBytes(raw);
    if (n === undefined) throw new ConfigError(name, `expected a size like 128Mi, got '${raw}'`);
    return n;
  }
}

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  ki: 1024,
  mi: 1024 ** 2,
  gi: 1024 ** 3,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
};

/** Parses Kubernetes/OpenFaaS-style sizes (`128Mi`, `1G`, `64m`). Lower-case `m` means MiB, as OpenFaaS users write it. */
export function parseBytes(raw: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(raw);
  if (!m) return undefined;
  const unitRaw = m[2] ?? '';
  let mult = UNITS[unitRaw.toLowerCase()];
  if (unitRaw === 'm' || unitRaw === 'M') mult = 1024 ** 2;
  if (unitRaw === 'k' || unitRaw === 'K') mult = 1024;
  if (unitRaw === 'g' || unitRaw === 'G') mult = 1024 ** 3;
  if (mult === undefined) return undefined;
  return Math.round(Number(m[1]) * mult);
}

/** The repository root: the nearest ancestor holding nx.json. */
export function repoRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(path.join(dir, 'nx.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** `FLOE_STATE_DIR`, else `<repo>/.floe` (ignored by git). */
export function stateDir(env: Env = process.env): string {
  const v = env.FLOE_STATE_DIR;
  return v ? path.resolve(v) : path.join(repoRoot(), '.floe');
}
