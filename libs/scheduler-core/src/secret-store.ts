import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  AlreadyExistsError,
  FloeError,
  FUNCTION_NAME_RE,
  InvalidArgumentError,
  NotFoundError,
  type SecretPutRequest,
  type SecretSummary,
} from '@floe/contracts';
import type { Redis } from 'ioredis';
import { redisOp } from './errors.js';
import type { SchedulerKeys } from './keys.js';

/**
 * Reads the AES-256 key at `<stateDir>/scheduler/secrets.key`, creating it (mode 0600) on
 * first use. Every scheduler replica on a host shares it; replicas on other hosts need the
 * same key: `configured` (FLOE_SECRETS_KEY_FILE) names a file made elsewhere, which must
 * exist, hold 32 bytes and be readable by its owner only. The key is never kept in Redis,
 * next to what it encrypts.
 */
export function loadSecretKey(stateDir: string, configured?: string): Buffer {
  if (configured) return readConfiguredKey(configured);
  const file = path.join(stateDir, 'scheduler', 'secrets.key');
  try {
    const key = readFileSync(file);
    if (key.length !== 32) throw new Error(`${file}: expected 32 bytes, got ${key.length}`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    // 'wx' so two replicas starting together can't overwrite each other's key.
    writeFileSync(file, randomBytes(32), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return readFileSync(file);
}

function readConfiguredKey(file: string): Buffer {
  let key: Buffer;
  let mode: number;
  try {
    key = readFileSync(file);
    mode = statSync(file).mode;
  } catch (err) {
    throw new FloeError('STARTUP', `FLOE_SECRETS_KEY_FILE ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (key.length !== 32)
    throw new FloeError('STARTUP', `FLOE_SECRETS_KEY_FILE ${file}: expected 32 bytes, got ${key.length}`);
  if (mode & 0o077)
    throw new FloeError(
      'STARTUP',
      `FLOE_SECRETS_KEY_FILE ${file}: mode ${(mode & 0o777).toString(8)} lets others read the key; chmod 600 it`,
    );
  return key;
}

/**
 * Secrets per namespace, in the Redis hash `secrets:<ns>` as `base64(iv | tag | ciphertext)`
 * (AES-256-GCM, fresh 12-byte IV each write). Values leave only through `values`, which
 * agents call while specializing an instance.
 */
export class SecretStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: SchedulerKeys,
    private readonly key: Buffer,
  ) {}

  async put(req: SecretPutRequest): Promise<void> {
    if (!FUNCTION_NAME_RE.test(req.name ?? ''))
      throw new InvalidArgumentError('name', 'expected a DNS-1123 label');
    if (!FUNCTION_NAME_RE.test(req.namespace ?? '')) {
      throw new InvalidArgumentError('namespace', 'expected a DNS-1123 label');
    }
    if ((req.value === undefined) === (req.rawValue === undefined)) {
      throw new InvalidArgumentError('value', 'exactly one of value or rawValue is required');
    }
    const plain =
      req.value !== undefined ? Buffer.from(req.value, 'utf8') : Buffer.from(req.rawValue ?? '', 'base64');
    const sealed = this.seal(plain);
    const hash = this.keys.secrets(req.namespace);
    await redisOp('secret put', async () => {
      if (req.mode === 'create') {
        const created = await this.redis.hsetnx(hash, req.name, sealed);
        if (!created) throw new AlreadyExistsError(`secret ${req.namespace}/${req.name} already exists`);
      } else {
        if (!(await this.redis.hexists(hash, req.name))) {
          throw new NotFoundError(`secret ${req.namespace}/${req.name} not found`);
        }
        await this.redis.hset(hash, req.name, sealed);
      }
      await this.redis.sadd(this.keys.namespaces, req.namespace);
    });
  }

  async list(namespace: string): Promise<SecretSummary[]> {
    const names = await this.names(namespace);
    return names.sort().map((name) => ({ name, namespace }));
  }

  names(namespace: string): Promise<string[]> {
    return redisOp('secret list', () => this.redis.hkeys(this.keys.secrets(namespace)));
  }

  async remove(namespace: string, name: string): Promise<void> {
    const n = await redisOp('secret remove', () => this.redis.hdel(this.keys.secrets(namespace), name));
    if (!n) throw new NotFoundError(`secret ${namespace}/${name} not found`);
  }

  /** Decrypted values; a missing name is NOT_FOUND so an instance never starts half-configured. */
  async values(namespace: string, names: string[]): Promise<Record<string, string>> {
    if (names.length === 0) return {};
    const sealed = await redisOp('secret values', () =>
      this.redis.hmget(this.keys.secrets(namespace), ...names),
    );
    const out: Record<string, string> = {};
    names.forEach((name, i) => {
      const s = sealed[i];
      if (s == null) throw new NotFoundError(`secret ${namespace}/${name} not found`);
      out[name] = this.open(s).toString('utf8');
    });
    return out;
  }

  private seal(plain: Buffer): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
  }

  private open(sealed: string): Buffer {
    const buf = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, buf.subarray(0, 12));
    decipher.setAuthTag(buf.subarray(12, 28));
    return Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]);
  }
}
