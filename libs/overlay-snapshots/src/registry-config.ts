import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ConfigError } from '@floe/contracts';
import { parseDockerConfig, type RegistryCredentials } from './registry-auth.js';

/** Where and how Floe reaches registries; every app builds it once from the environment. */
export interface RegistryConfig {
  /** PEM certificates trusted for registries: the system roots plus `FLOE_REGISTRY_CA`. */
  ca: string[];
  /** Hosts (`host[:port]`) that may be reached over plain HTTP besides loopback ones. */
  insecure: string[];
  /** Registry → mirror base URLs, tried in order before the registry itself. */
  mirrors: Record<string, string[]>;
  /**
   * The platform's own credentials (`FLOE_REGISTRY_AUTH`, a docker config.json): for the
   * registry uploads are pushed to, and for any registry a namespace has none for.
   */
  platformCredentials?: Map<string, RegistryCredentials>;
  /** `FLOE_REGISTRY`: `host[:port][/prefix]` that POST /floe/images pushes uploads into. */
  uploadRegistry?: string;
}

/**
 * `FLOE_REGISTRY_CA` (a PEM file), `FLOE_REGISTRY_INSECURE` (`host:port,...`),
 * `FLOE_REGISTRY_MIRRORS` (`docker.io=https://mirror:5000,docker.io=https://other`), as
 * containerd's hosts.toml and Docker's registry-mirrors express them.
 */
export function registryConfigFromEnv(env: NodeJS.ProcessEnv = process.env): RegistryConfig {
  const ca = [...rootCertificates];
  const caFile = env.FLOE_REGISTRY_CA;
  if (caFile) {
    try {
      ca.push(readFileSync(caFile, 'utf8'));
    } catch (e) {
      throw new ConfigError('FLOE_REGISTRY_CA', `cannot read ${caFile}: ${(e as Error).message}`);
    }
  }
  const insecure = (env.FLOE_REGISTRY_INSECURE ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let platformCredentials: Map<string, RegistryCredentials> | undefined;
  const authFile = env.FLOE_REGISTRY_AUTH;
  if (authFile) {
    try {
      platformCredentials = parseDockerConfig(readFileSync(authFile, 'utf8'), 'FLOE_REGISTRY_AUTH');
    } catch (e) {
      throw new ConfigError('FLOE_REGISTRY_AUTH', `${authFile}: ${(e as Error).message}`);
    }
  }
  const uploadRegistry = env.FLOE_REGISTRY?.replace(/\/+$/, '') || undefined;
  if (uploadRegistry && !/^[A-Za-z0-9.-]+(:\d+)?(\/[a-z0-9._/-]+)?$/.test(uploadRegistry))
    throw new ConfigError('FLOE_REGISTRY', `expected host[:port][/prefix], got '${uploadRegistry}'`);
  return {
    ca,
    insecure,
    mirrors: parseMirrors(env.FLOE_REGISTRY_MIRRORS ?? ''),
    platformCredentials,
    uploadRegistry,
  };
}

const VARIABLES = [
  'FLOE_REGISTRY_CA',
  'FLOE_REGISTRY_INSECURE',
  'FLOE_REGISTRY_MIRRORS',
  'FLOE_REGISTRY_AUTH',
  'FLOE_REGISTRY',
] as const;

/** The registry variables an app's env reader sees (tests hand apps their own env). */
export function registryEnv(env: { optional(name: string): string | undefined }): NodeJS.ProcessEnv {
  return Object.fromEntries(VARIABLES.map((v) => [v, env.optional(v)]));
}

export function parseMirrors(raw: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    const registry = part.slice(0, eq).trim();
    const url = part
      .slice(eq + 1)
      .trim()
      .replace(/\/+$/, '');
    if (eq <= 0 || !/^https?:\/\/[^/\s]+$/.test(url))
      throw new ConfigError(
        'FLOE_REGISTRY_MIRRORS',
        `expected registry=http(s)://host[:port], got '${part}'`,
      );
    out[registry] = [...(out[registry] ?? []), url];
  }
  return out;
}
