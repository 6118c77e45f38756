import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A gateway the user logged in to; `pin` is the certificate trusted on first use. */
export interface GatewayLogin {
  url: string;
  user: string;
  password: string;
  pin?: { sha256: string; pem: string };
}

export interface CliConfig {
  current?: string;
  gateways: Record<string, GatewayLogin>;
}

/** `$FLOE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/floe`, else `~/.config/floe`. */
export function configDir(env = process.env): string {
  if (env.FLOE_CONFIG_DIR) return path.resolve(env.FLOE_CONFIG_DIR);
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'floe');
}

export function loadConfig(dir = configDir()): CliConfig {
  try {
    const parsed = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
    return { current: parsed.current, gateways: parsed.gateways ?? {} };
  } catch {
    return { gateways: {} };
  }
}

/**
 * Written 0600 in a 0700 dir, through a temp file and rename so that a crash never leaves a
 * half-written file (and the password is never readable by others, not even for a moment).
 */
export function saveConfig(config: CliConfig, dir = configDir()): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = path.join(dir, 'config.json');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}

/** Canonical form of a gateway URL, the key logins are kept under: scheme, host, port. */
export function canonicalUrl(raw: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `https://${raw}`;
  const u = new URL(withScheme);
  return `${u.protocol}//${u.host}`;
}
