import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ConfigError } from '@floe/contracts';

/** Where and how Floe reaches registries; every app builds it once from the environment. */
export interface RegistryConfig {
  /** PEM certificates trusted for registries: the system roots plus `FLOE_REGISTRY_CA`. */
  ca: string[];
  /** Hosts (`host[:port]`) that may be reached over plain HTTP besides loopback ones. */
  insecure: string[];
  /** Registry → mirror base URLs, tried in order before the registry itself. */
  mirrors: Record<string, string[]>;
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
  return { ca, insecure, mirrors: parseMirrors(env.FLOE_REGISTRY_MIRRORS ?? '') };
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
