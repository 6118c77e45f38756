import { type FloeError, InvalidArgumentError, REGISTRY_AUTH_SECRET } from '@floe/contracts';
import { DOCKER_HUB } from './image-reference.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** A challenge from `WWW-Authenticate`: `Bearer realm="...",service="...",scope="..."`. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse one `WWW-Authenticate` value (the registries' only form: one scheme, quoted params). */
export function parseChallenge(header: string): AuthChallenge | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!))
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  return { scheme: m[1]!.toLowerCase(), params };
}

/** The keys a docker `config.json` may use for Docker Hub. */
const HUB_KEYS = ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/'];

function hostOf(key: string): string {
  return key
    .replace(/^https?:\/\//, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

/**
 * Credentials from a docker `config.json` (`{"auths": {"host": {"auth": base64(user:pass)}}}`,
 * or `username`/`password` fields), by registry host. Docker Hub's legacy key
 * `https://index.docker.io/v1/` counts as `docker.io`. Throws naming `field` on bad input.
 */
export function parseDockerConfig(json: string, field = 'config.json'): Map<string, RegistryCredentials> {
  let doc: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    doc = JSON.parse(json);
  } catch {
    throw new InvalidArgumentError(field, 'is not JSON (expected a docker config.json with "auths")');
  }
  if (typeof doc !== 'object' || doc === null || typeof doc.auths !== 'object' || doc.auths === null)
    throw new InvalidArgumentError(field, 'has no "auths" object');
  const out = new Map<string, RegistryCredentials>();
  for (const [key, entry] of Object.entries(doc.auths)) {
    let username = entry?.username;
    let password = entry?.password;
    if (entry?.auth) {
      const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = plain.indexOf(':');
      if (i < 0)
        throw new InvalidArgumentError(field, `auths entry for '${key}' is not base64(user:password)`);
      username = plain.slice(0, i);
      password = plain.slice(i + 1);
    }
    if (typeof username !== 'string' || typeof password !== 'string')
      throw new InvalidArgumentError(
        field,
        `auths entry for '${key}' has neither auth nor username/password`,
      );
    const host = HUB_KEYS.includes(key) ? DOCKER_HUB : hostOf(key);
    out.set(host, { username, password });
  }
  return out;
}

/** `Authorization: Basic ...` for these credentials. */
export function basicHeader(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/**
 * A namespace's registry credentials from its `floe-registry-auth` secret (a docker
 * config.json), read through `values` (the scheduler's secret store, or an agent's RPC to
 * it). A namespace without that secret pulls anonymously.
 */
export async function namespaceCredentials(
  values: (names: string[]) => Promise<Record<string, string>>,
): Promise<Map<string, RegistryCredentials>> {
  let v: Record<string, string>;
  try {
    v = await values([REGISTRY_AUTH_SECRET]);
  } catch (e) {
    if ((e as FloeError).code === 'NOT_FOUND') return new Map();
    throw e;
  }
  return parseDockerConfig(v[REGISTRY_AUTH_SECRET] ?? '', `secret ${REGISTRY_AUTH_SECRET}`);
}
