import { createHash } from 'node:crypto';
import type http from 'node:http';
import { FloeError, InvalidArgumentError, NotFoundError } from '@floe/contracts';
import { DOCKER_HUB, formatReference, type ImageReference } from './image-reference.js';
import {
  type AuthChallenge,
  basicHeader,
  parseChallenge,
  type RegistryCredentials,
} from './registry-auth.js';
import type { RegistryConfig } from './registry-config.js';
import { type Body, JSON_MAX, RegistryHttp, readAll, reasonOf } from './registry-http.js';

/** A content descriptor as manifests list them. */
export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** A reference resolved to this platform's manifest, config read and verified. */
export interface ResolvedImage {
  ref: ImageReference;
  /** What the reference names (an index's digest for a multi-arch tag): pin the function here. */
  digest: string;
  manifest: { bytes: Buffer; digest: string; mediaType: string };
  config: { bytes: Buffer; digest: string };
  layers: Descriptor[];
  /** Base URL that served it (a mirror or the registry). */
  endpoint: string;
}

export interface RegistryClientOptions extends Partial<RegistryConfig> {
  /** Credentials for a registry host, if any; asked per request, never logged. */
  credentials?: (registry: string) => RegistryCredentials | undefined;
  platform?: { os: string; architecture: string };
  /** Socket idle timeout. */
  timeoutMs?: number;
}

export const MANIFEST_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;
const INDEXES = new Set<string>([MANIFEST_TYPES.ociIndex, MANIFEST_TYPES.dockerList]);
const MANIFESTS = new Set<string>([MANIFEST_TYPES.ociManifest, MANIFEST_TYPES.dockerManifest]);
const ACCEPT = Object.values(MANIFEST_TYPES).join(', ');
const ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * The registry answered no. `field` is always `image`: at deploy this is a 4xx naming it,
 * with the registry's own reason (`MANIFEST_UNKNOWN: manifest unknown`).
 */
export function registryRefusal(ref: string, status: number, reason: string): FloeError {
  const details = { field: 'image', registryStatus: status };
  if (status === 404) return new NotFoundError(`image ${ref}: ${reason}`, details);
  if (status === 401 || status === 403)
    return new FloeError('FAILED_PRECONDITION', `image ${ref}: registry refused the credentials: ${reason}`, {
      fault: 'user',
      details,
    });
  if (status >= 400 && status < 500)
    return new FloeError('FAILED_PRECONDITION', `image ${ref}: registry answered ${reason}`, {
      fault: 'user',
      details,
    });
  return new FloeError('UNAVAILABLE', `image ${ref}: registry answered ${reason}`, { details });
}

/**
 * A client of the OCI Distribution API (v2): manifests and blobs by reference, with
 * anonymous, basic and bearer-token auth (the `WWW-Authenticate` challenge flow), mirrors
 * tried before the registry, TLS with the configured CAs and plain HTTP only for loopback
 * and `insecure` hosts. Every manifest and config it returns is digest-checked; layer
 * streams are size-capped here and digest-checked by whoever consumes them.
 */
export class RegistryClient {
  private readonly http: RegistryHttp;
  /** `endpoint repo` → Authorization header that worked (a bearer token or basic). */
  private readonly auth = new Map<string, string>();

  constructor(private readonly opts: RegistryClientOptions = {}) {
    this.http = new RegistryHttp(opts);
  }

  close(): void {
    this.http.close();
  }

  /** Resolve to this platform's manifest and read its config. Downloads no layer. */
  async resolve(ref: ImageReference): Promise<ResolvedImage> {
    return this.onEndpoints(ref, async (endpoint) => {
      const name = formatReference(ref);
      const top = await this.manifest(endpoint, ref, ref.digest ?? ref.tag ?? 'latest');
      let m = top;
      for (let depth = 0; INDEXES.has(m.mediaType); depth++) {
        if (depth > 2) throw new InvalidArgumentError('image', `${name}: image index nesting too deep`);
        const pick = this.pickPlatform(name, m.json.manifests ?? []);
        m = await this.manifest(endpoint, ref, pick.digest, pick);
      }
      if (!MANIFESTS.has(m.mediaType) || !m.json.config || !Array.isArray(m.json.layers))
        throw new InvalidArgumentError('image', `${name}: unsupported manifest type '${m.mediaType}'`);
      const cfg = m.json.config;
      const res = await this.get(endpoint, ref, `/blobs/${cfg.digest}`, {});
      const bytes = await readAll(res, JSON_MAX, `${name} config`);
      verify(name, 'config', cfg, bytes);
      return {
        ref,
        digest: top.digest,
        manifest: { bytes: m.bytes, digest: m.digest, mediaType: m.mediaType },
        config: { bytes, digest: cfg.digest },
        layers: m.json.layers,
        endpoint,
      };
    });
  }

  /**
   * A layer blob from the endpoint that resolved the image, as a stream capped at the
   * descriptor's size; `onBytes` sees every chunk (progress, metrics).
   */
  async *blob(img: ResolvedImage, d: Descriptor, onBytes?: (n: number) => void): AsyncGenerator<Buffer> {
    const res = await this.get(img.endpoint, img.ref, `/blobs/${d.digest}`, {});
    let n = 0;
    for await (const c of res as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > d.size)
        throw new InvalidArgumentError(
          'image',
          `layer ${d.digest}: registry sent more than the ${d.size} bytes the manifest says`,
        );
      onBytes?.(c.length);
      yield c;
    }
    if (n !== d.size)
      throw new InvalidArgumentError(
        'image',
        `layer ${d.digest}: registry sent ${n} bytes, manifest says ${d.size}`,
      );
  }

  private async manifest(endpoint: string, ref: ImageReference, reference: string, want?: Descriptor) {
    const name = formatReference(ref);
    const res = await this.get(endpoint, ref, `/manifests/${reference}`, { accept: ACCEPT });
    const bytes = await readAll(res, JSON_MAX, `${name} manifest`);
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && digest !== reference)
      throw new InvalidArgumentError(
        'image',
        `${name}: manifest digest mismatch: asked ${reference}, content is ${digest}`,
      );
    if (want) verify(name, 'manifest', want, bytes);
    let json: { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new InvalidArgumentError('image', `${name}: manifest is not JSON`);
    }
    const header = String(res.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    const mediaType =
      json.mediaType ??
      (MANIFESTS.has(header) || INDEXES.has(header)
        ? header
        : json.manifests
          ? MANIFEST_TYPES.ociIndex
          : MANIFEST_TYPES.ociManifest);
    return { bytes, digest, json, mediaType };
  }

  private pickPlatform(name: string, list: Descriptor[]): Descriptor {
    const want = this.opts.platform ?? { os: 'linux', architecture: ARCH[process.arch] ?? process.arch };
    const hit = list.find((d) => d.platform?.os === want.os && d.platform.architecture === want.architecture);
    if (hit) return hit;
    const have = list.map((d) => `${d.platform?.os}/${d.platform?.architecture}`).join(', ') || 'none';
    throw new InvalidArgumentError(
      'image',
      `${name}: no ${want.os}/${want.architecture} image in the index (it has ${have})`,
    );
  }

  /** Mirrors of the registry in order, then the registry; a refusal from the last one is the answer. */
  private async onEndpoints<T>(ref: ImageReference, fn: (endpoint: string) => Promise<T>): Promise<T> {
    const upstream = ref.registry === DOCKER_HUB ? 'registry-1.docker.io' : ref.registry;
    const endpoints = [...(this.opts.mirrors?.[ref.registry] ?? []), `https://${upstream}`];
    let last: unknown;
    let refusal: unknown;
    for (const e of endpoints) {
      try {
        return await fn(e);
      } catch (err) {
        last = err;
        if ((err as FloeError).code !== 'UNAVAILABLE') refusal ??= err;
      }
    }
    // An air-gapped site: the mirror's "no such tag" matters more than an unreachable upstream.
    throw (last as FloeError).code === 'UNAVAILABLE' && refusal ? refusal : last;
  }

  /** GET `/v2/<repo><path>` with auth, following redirects (blobs often live on another host). */
  private get(
    endpoint: string,
    ref: ImageReference,
    path: string,
    headers: Record<string, string>,
  ): Promise<http.IncomingMessage> {
    return this.call(endpoint, ref, path, { headers });
  }

  /**
   * One authenticated request to `/v2/<repo><path>` (or to an absolute URL the registry gave,
   * such as an upload's Location). A 401 is answered once from its challenge and the request
   * is sent again, so `body` is a factory. Any status outside `expect` (default 200) is a
   * refusal carrying the registry's reason.
   */
  async call(
    endpoint: string,
    ref: ImageReference,
    path: string,
    req: {
      method?: string;
      headers?: Record<string, string>;
      body?: Body;
      expect?: number[];
    } = {},
  ): Promise<http.IncomingMessage> {
    const name = formatReference(ref);
    const key = `${endpoint} ${ref.repository}`;
    const url = /^https?:\/\//.test(path) ? path : `${endpoint}/v2/${ref.repository}${path}`;
    const expect = req.expect ?? [200];
    for (let attempt = 0; ; attempt++) {
      const authz = this.auth.get(key);
      const headers = { ...req.headers, ...(authz ? { authorization: authz } : {}) };
      const res = await this.http.send(url, headers, req.method ?? 'GET', req.body);
      if (res.statusCode === 401 && attempt === 0) {
        const challenge = parseChallenge(String(res.headers['www-authenticate'] ?? ''));
        const body = await readAll(res, JSON_MAX, 'error body').catch(() => Buffer.alloc(0));
        const next = challenge && (await this.answer(ref, challenge));
        if (!next) throw registryRefusal(name, 401, reasonOf(401, body));
        this.auth.set(key, next);
        continue;
      }
      if (!expect.includes(res.statusCode ?? 0)) {
        const body = await readAll(res, JSON_MAX, 'error body').catch(() => Buffer.alloc(0));
        throw registryRefusal(name, res.statusCode ?? 0, reasonOf(res.statusCode ?? 0, body));
      }
      return res;
    }
  }

  /** The base URL a reference's registry is reached at (mirrors are for pulls only). */
  endpointOf(ref: ImageReference): string {
    return `https://${ref.registry === DOCKER_HUB ? 'registry-1.docker.io' : ref.registry}`;
  }

  /** The Authorization header a challenge asks for, or undefined when we have nothing to offer. */
  private async answer(ref: ImageReference, ch: AuthChallenge): Promise<string | undefined> {
    const creds = this.opts.credentials?.(ref.registry) ?? this.opts.platformCredentials?.get(ref.registry);
    if (ch.scheme === 'basic') return creds ? basicHeader(creds) : undefined;
    if (ch.scheme !== 'bearer' || !ch.params.realm) return undefined;
    const u = new URL(ch.params.realm);
    if (ch.params.service) u.searchParams.set('service', ch.params.service);
    u.searchParams.set('scope', ch.params.scope ?? `repository:${ref.repository}:pull`);
    const res = await this.http.send(u.toString(), creds ? { authorization: basicHeader(creds) } : {}, 'GET');
    const body = await readAll(res, JSON_MAX, 'token response');
    if (res.statusCode !== 200)
      throw registryRefusal(formatReference(ref), res.statusCode ?? 0, reasonOf(res.statusCode ?? 0, body));
    let token: string | undefined;
    try {
      const j = JSON.parse(body.toString('utf8')) as { token?: string; access_token?: string };
      token = j.token ?? j.access_token;
    } catch {}
    if (!token) throw registryRefusal(formatReference(ref), 401, 'token endpoint answered no token');
    return `Bearer ${token}`;
  }
}

function verify(name: string, what: string, d: Descriptor, bytes: Buffer): void {
  const got = sha256(bytes);
  if (got !== d.digest)
    throw new InvalidArgumentError(
      'image',
      `${name} ${what}: digest mismatch: expected ${d.digest}, content is ${got}`,
    );
  if (typeof d.size === 'number' && d.size !== bytes.length)
    throw new InvalidArgumentError(
      'image',
      `${name} ${what}: ${bytes.length} bytes, descriptor says ${d.size}`,
    );
}
