import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { FloeError } from '../errors.js';
import { loopbackKey } from './loopback-auth.js';

const run = promisify(execFile);

/** What a service presents and trusts on every internal connection (mutual TLS). */
export interface ClusterTls {
  /** The cluster CA's certificate: the only issuer a peer's certificate may chain to. */
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** This service's name in its certificate (CN), e.g. `agent-7`. */
  name: string;
  certFile: string;
  /** The HMAC key of loopback frame connections (loopback-auth.ts), derived from the CA's key. */
  loopbackKey: Buffer;
}

export interface ClusterPkiOptions {
  /** The CA: `cert.pem` and `key.pem` (`FLOE_CA_DIR`, default `<stateDir>/pki/ca`). */
  caDir: string;
  /** Generate the CA when `caDir` holds none: only at the default place, never at a configured one. */
  createCa: boolean;
  /** Where this service keeps its own key and certificate: `<stateDir>/<role>/pki`. */
  certDir: string;
  /** The role (OU) and name (CN) the certificate states. */
  role: 'scheduler' | 'agent' | 'gateway' | 'client';
  name: string;
}

/** A certificate is reissued when less than this remains of it. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * The cluster CA and this service's certificate, made on first start. Keys are 0600 in 0700
 * directories. Each pair is generated in a private temporary directory and renamed into
 * place whole: a directory rename fails when the target exists, so services starting
 * together on a fresh state dir agree on one CA, and a crash never leaves a key without
 * its certificate. A service certificate not issued by the current CA, or about to expire,
 * is issued again.
 */
export async function ensureClusterTls(opts: ClusterPkiOptions): Promise<ClusterTls> {
  if (!NAME_RE.test(opts.name))
    throw new FloeError('STARTUP', `cluster pki: certificate name '${opts.name}' must match ${NAME_RE}`);
  const ca = await ensurePair(opts.caDir, opts.createCa ? (tmp) => makeCa(tmp) : undefined);
  const caCert = new X509Certificate(ca.cert);
  let own = await readPair(opts.certDir);
  if (own && !stillGood(own.cert, caCert)) {
    await rm(opts.certDir, { recursive: true, force: true });
    own = undefined;
  }
  if (!own) own = await ensurePair(opts.certDir, (tmp) => issue(tmp, opts, ca.files));
  return {
    ca: ca.cert,
    cert: own.cert,
    key: own.key,
    name: opts.name,
    certFile: path.join(opts.certDir, 'cert.pem'),
    loopbackKey: loopbackKey(ca.key),
  };
}

interface Pair {
  cert: Buffer;
  key: Buffer;
  files: { cert: string; key: string };
}

async function readPair(dir: string): Promise<Pair | undefined> {
  const files = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
  try {
    const [cert, key] = await Promise.all([readFile(files.cert), readFile(files.key)]);
    return { cert, key, files };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FloeError('STARTUP', `cluster pki: read ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

async function ensurePair(dir: string, make?: (tmp: string) => Promise<void>): Promise<Pair> {
  const found = await readPair(dir);
  if (found) return found;
  if (!make)
    throw new FloeError(
      'STARTUP',
      `cluster pki: no CA in ${dir} (cert.pem and key.pem): copy the cluster CA there, or leave FLOE_CA_DIR unset to generate one`,
    );
  // The pair's own directory is 0700 (made so as `tmp`); a parent made here is too. A parent
  // that exists keeps its mode: it may be a service's state dir, shared with others.
  const parent = path.dirname(dir);
  await mkdir(parent, { recursive: true, mode: 0o700 });
  const tmp = path.join(parent, `.${path.basename(dir)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await mkdir(tmp, { mode: 0o700 });
  try {
    await make(tmp);
    await chmod(path.join(tmp, 'key.pem'), 0o600);
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    // Another service made it first: use theirs.
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST')
      throw new FloeError('STARTUP', `cluster pki: generate ${dir}: ${(err as Error).message}`, {
        cause: err,
      });
  }
  const made = await readPair(dir);
  if (!made) throw new FloeError('STARTUP', `cluster pki: ${dir} vanished after it was generated`);
  return made;
}

async function makeCa(tmp: string): Promise<void> {
  await run('openssl', [
    'req',
    '-x509',
    ...EC,
    '-days',
    '3650',
    '-subj',
    '/O=floe/CN=floe cluster CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    path.join(tmp, 'key.pem'),
    '-out',
    path.join(tmp, 'cert.pem'),
  ]);
}

async function issue(tmp: string, opts: ClusterPkiOptions, ca: { cert: string; key: string }): Promise<void> {
  const key = path.join(tmp, 'key.pem');
  const csr = path.join(tmp, 'req.csr');
  const ext = path.join(tmp, 'ext.cnf');

  await run('openssl', [
    'req',
    '-new',
    ...EC,
    '-subj',
    `/O=floe/OU=${opts.role}/CN=${opts.name}`,
    '-keyout',
    key,
    '-out',
    csr,
  ]);
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=DNS:${opts.name}`,
      '',
    ].join('\n'),
  );

  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-days',
    '825',
    '-set_serial',
    `0x${randomBytes(16).toString('hex')}`,
    '-extfile',
    ext,
    '-out',
    path.join(tmp, 'cert.pem'),
  ]);
  await rm(csr);
  await rm(ext);
}

function stillGood(certPem: Buffer, ca: X509Certificate): boolean {
  try {
    const cert = new X509Certificate(certPem);
    return cert.verify(ca.publicKey) && Date.parse(cert.validTo) - Date.now() > RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}

/**
 * An app's internal TLS at start: its PKI from the environment (see clusterPkiOptions), or
 * nothing when `FLOE_INTERNAL_AUTH=off`. That switch exists so the bench can measure what
 * authentication costs in the same run; it is said loudly at start, and no deployment
 * should set it: every internal port then takes commands from anyone who can reach it.
 */
export async function internalTlsFromEnv(
  env: { optional(name: string): string | undefined; bool(name: string, def: boolean): boolean },
  stateDir: string,
  role: ClusterPkiOptions['role'],
  name: string,
  warn: (msg: string) => void = console.warn,
): Promise<ClusterTls | undefined> {
  if (!env.bool('FLOE_INTERNAL_AUTH', true)) {
    warn(
      `${role} ${name}: FLOE_INTERNAL_AUTH=off: internal ports take unauthenticated connections (for benchmarks only; never in a deployment)`,
    );
    return undefined;
  }
  return ensureClusterTls(clusterPkiOptions(env, stateDir, role, name));
}

/**
 * Where a service's PKI lives, from its environment: the CA in `FLOE_CA_DIR` (default
 * `<stateDir>/pki/ca`, generated there on first start), its own pair in `<stateDir>/<role>/pki`
 * (each service's own directory: on a host where the agent runs as root and the others as
 * another user, each can write only its own).
 */
export function clusterPkiOptions(
  env: { optional(name: string): string | undefined },
  stateDir: string,
  role: ClusterPkiOptions['role'],
  name: string,
): ClusterPkiOptions {
  const configured = env.optional('FLOE_CA_DIR');
  return {
    caDir: configured ? path.resolve(configured) : path.join(stateDir, 'pki', 'ca'),
    createCa: configured === undefined,
    certDir: path.join(stateDir, role, 'pki'),
    role,
    name,
  };
}
