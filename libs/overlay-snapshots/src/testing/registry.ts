import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, sign, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeOciLayout } from './oci-fixture.js';
import { tarBuffer } from './tar-fixture.js';

/** Test support: Debian's `docker-registry` (distribution 2.8) on a free loopback port. */
export interface TestRegistry {
  /** `127.0.0.1:<port>`: the registry part of a reference. */
  host: string;
  url: string;
  /** The self-signed CA (PEM) when started with TLS. */
  ca?: string;
  /** Where blobs live: `docker/registry/v2/blobs/sha256/<2>/<hex>/data`. */
  storage: string;
  creds?: { username: string; password: string };
  stop(): Promise<void>;
}

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export function missingRegistryTools(): string | undefined {
  for (const t of [REGISTRY_BIN, '/usr/bin/skopeo', '/usr/bin/htpasswd', '/usr/bin/openssl'])
    if (!fs.existsSync(t))
      return `${t} is not installed (apt-get install docker-registry skopeo apache2-utils openssl)`;
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a registry under `dir`; with `tls` a cert for 127.0.0.1, with `creds` an htpasswd file. */
export async function startRegistry(
  dir: string,
  opts: { tls?: boolean; creds?: { username: string; password: string }; token?: boolean } = {},
): Promise<TestRegistry> {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const storage = path.join(dir, 'storage');
  const lines = [
    'version: 0.1',
    'log: { level: error, accesslog: { disabled: true } }',
    `storage: { filesystem: { rootdirectory: ${storage} }, delete: { enabled: true } }`,
  ];
  let ca: string | undefined;
  let tls = '';
  if (opts.tls) {
    const [crt, key] = [path.join(dir, 'tls.crt'), path.join(dir, 'tls.key')];
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        crt,
      ],
      { stdio: 'pipe' },
    );
    ca = fs.readFileSync(crt, 'utf8');
    tls = `, tls: { certificate: ${crt}, key: ${key} }`;
  }
  lines.push(`http: { addr: 127.0.0.1:${port}, secret: floe-test${tls} }`);
  let tokenServer: http.Server | undefined;
  if (opts.token) {
    if (!opts.creds) throw new Error('a token registry needs creds');
    const t = await startTokenServer(dir, opts.creds);
    tokenServer = t.server;
    lines.push(
      `auth: { token: { realm: "${t.realm}", service: floe-test-registry, issuer: floe-test-issuer, rootcertbundle: ${t.cert} } }`,
    );
  } else if (opts.creds) {
    const file = path.join(dir, 'htpasswd');
    fs.writeFileSync(file, execFileSync('htpasswd', ['-Bbn', opts.creds.username, opts.creds.password]));
    lines.push(`auth: { htpasswd: { realm: floe-test, path: ${file} } }`);
  }
  const cfg = path.join(dir, 'config.yml');
  fs.writeFileSync(cfg, `${lines.join('\n')}\n`);
  const proc: ChildProcess = spawn(REGISTRY_BIN, ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (d) => {
    err += d;
  });
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${err}`);
    if (await answers(url, ca)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`docker-registry did not answer on ${url}: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    ca,
    storage,
    creds: opts.creds,
    stop: async () => {
      tokenServer?.close();
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
    },
  };
}

function answers(url: string, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const lib = url.startsWith('https') ? https : http;
    const req = lib.get(`${url}/v2/`, { ca }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
  });
}

/**
 * `skopeo copy` into the registry (TLS not verified: the test made the cert itself). Async:
 * a token-auth registry's token server runs in this process and must keep answering.
 */
export async function pushImage(
  reg: TestRegistry,
  from: string,
  repoTag: string,
  extra: string[] = [],
): Promise<void> {
  const args = ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false'];
  if (reg.creds) args.push('--dest-creds', `${reg.creds.username}:${reg.creds.password}`);
  await promisify(execFile)('skopeo', [...args, ...extra, from, `docker://${reg.host}/${repoTag}`]);
}

/** The file a registry serves for blob `digest`. */
export function blobFile(reg: TestRegistry, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return path.join(reg.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/**
 * An OCI layout whose `latest` is an image index over one image per platform (layers gzip),
 * for `skopeo copy --all`. Returns each platform's manifest digest.
 */
export function writeMultiArchLayout(
  dir: string,
  images: { platform: { os: string; architecture: string }; layers: Buffer[] }[],
): string[] {
  const manifests = images.map((img) => {
    const digest = writeOciLayout(dir, { layers: img.layers, gzip: true });
    const size = fs.statSync(path.join(dir, 'blobs/sha256', digest.slice(7))).size;
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size, platform: img.platform };
  });
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
  );
  const hex = createHash('sha256').update(index).digest('hex');
  fs.writeFileSync(path.join(dir, 'blobs/sha256', hex), index);
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: `sha256:${hex}`,
          size: index.length,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
  return manifests.map((m) => m.digest);
}

/** A layer tar of `bytes` pseudo-random (incompressible) bytes in one file. */
export function randomLayer(name: string, bytes: number): Promise<Buffer> {
  return tarBuffer([{ name, type: 'file', body: randomBytes(bytes) }]);
}

/**
 * The token service of Docker's bearer flow: checks basic credentials, answers a JWT (RS256,
 * signing cert in `x5c`) granting pull and push on the asked repository.
 */
async function startTokenServer(
  dir: string,
  creds: { username: string; password: string },
): Promise<{ server: http.Server; realm: string; cert: string }> {
  const [cert, key] = [path.join(dir, 'token.crt'), path.join(dir, 'token.key')];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=floe-test-token',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'pipe' },
  );
  const x5c = new X509Certificate(fs.readFileSync(cert)).raw.toString('base64');
  const privateKey = fs.readFileSync(key);
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const expected = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = u.searchParams.getAll('scope').map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const input = `${b64({ typ: 'JWT', alg: 'RS256', x5c: [x5c] })}.${b64({
      iss: 'floe-test-issuer',
      sub: creds.username,
      aud: u.searchParams.get('service'),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    })}`;
    const token = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, realm: `http://127.0.0.1:${port}/token`, cert };
}
