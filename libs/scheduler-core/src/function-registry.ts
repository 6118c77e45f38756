import {
  AlreadyExistsError,
  ANNOTATION_IMAGE_ARCHIVE,
  ANNOTATION_IMAGE_PINNED,
  DEFAULT_NAMESPACE,
  type FunctionDeployment,
  type FunctionVersion,
  type FunctionVersionSummary,
  InvalidArgumentError,
  NotFoundError,
  validateDeployment,
} from '@floe/contracts';
import type { Redis } from 'ioredis';
import { redisOp } from './errors.js';
import { BASE_IMAGES, buildVersion, sha256 } from './function-version.js';
import type { ImageResolver, ResolvedRef } from './image-resolver.js';
import { fnKey, type SchedulerKeys } from './keys.js';
import type { SecretStore } from './secret-store.js';

/** One function's mutable head, in the hash `fn:<ns>` under its name. Versions are immutable. */
export interface FunctionRecord {
  name: string;
  namespace: string;
  active: number;
  latest: number;
  createdAt: string;
  /**
   * Replicas asked for through fn.scale: a floor for the autoscaler, or with 0 a hold at
   * zero until the next call (see replica-policy.ts).
   */
  replicas?: number;
  /** When `replicas` was set, epoch ms. */
  scaledAt?: number;
}

/** A function as the cache and the API see it: its head and its active version. */
export interface FunctionEntry {
  record: FunctionRecord;
  version: FunctionVersion;
}

const SEQ = 'seq';

/**
 * Commands per pipeline when reading many functions: each command's timeout runs from when it
 * was sent, so the last replies of one 10,000-command pipeline waited out
 * FLOE_REDIS_COMMAND_TIMEOUT_MS behind the others (an unpaged list of 10,000 answered 503).
 */
const PIPELINE_CHUNK = 500;

/** Plain code-unit order: a page cursor compares the same on every replica and locale. */
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The function registry in Redis: namespaces, functions and their immutable versions.
 * Each write publishes `ns/name` on the `changed` channel so every replica's cache drops it.
 * Everything lives in Redis, so any replica (or a restarted one) serves the same state.
 */
export class FunctionRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: SchedulerKeys,
    private readonly secrets: SecretStore,
    /** Resolves registry images at deploy; without it images are taken as named. */
    private readonly images?: Pick<ImageResolver, 'resolveImage'>,
  ) {}

  /** Creates (`create`, ALREADY_EXISTS if present) or updates (`update`, NOT_FOUND if absent). */
  async deploy(
    input: unknown,
    mode: 'create' | 'update',
    /** Key of the dependencies layer built for this code (DepsBuilds.prepare). */
    depsKey?: string,
  ): Promise<FunctionVersion> {
    const pre = validateDeployment(input);
    const namespace = pre.namespace ?? DEFAULT_NAMESPACE;
    const dep = validateDeployment(input, {
      existingSecrets: pre.secrets ? await this.secrets.names(namespace) : [],
    });
    const name = dep.service;
    // Before anything is written: a refused image stores nothing.
    const pinned = await this.resolveImage(dep, namespace);
    return redisOp(`fn ${mode} ${namespace}/${name}`, async () => {
      const existing = await this.record(namespace, name);
      if (mode === 'create' && existing)
        throw new AlreadyExistsError(`function ${namespace}/${name} already exists`);
      if (mode === 'update' && !existing) throw new NotFoundError(`function ${namespace}/${name} not found`);
      const codeDigest = dep.code ? await this.storeCode(dep, namespace) : undefined;
      const n = await this.redis.hincrby(this.keys.versions(namespace, name), SEQ, 1);
      const version = buildVersion(dep, { version: n, createdAt: new Date().toISOString(), codeDigest });
      if (pinned) version.imagePinned = pinned.pinned;
      if (depsKey) {
        version.depsKey = depsKey;
        await this.redis.sadd(this.keys.depsRefs(depsKey), fnKey(namespace, name));
      }
      const record: FunctionRecord = {
        name,
        namespace,
        active: n,
        latest: n,
        createdAt: existing?.createdAt ?? version.createdAt,
      };
      if (existing?.replicas !== undefined) record.replicas = existing.replicas;
      if (existing?.scaledAt !== undefined) record.scaledAt = existing.scaledAt;
      await this.redis
        .multi()
        .hset(this.keys.versions(namespace, name), String(n), JSON.stringify(version))
        .hset(this.keys.functions(namespace), name, JSON.stringify(record))
        .sadd(this.keys.namespaces, namespace)
        .publish(this.keys.changed, fnKey(namespace, name))
        .exec();
      return version;
    });
  }

  /** Registry images only: base images are built on agents, uploads come with their archive or pin. */
  private async resolveImage(dep: FunctionDeployment, namespace: string): Promise<ResolvedRef | undefined> {
    if (!this.images || !dep.image || (dep.runtime ?? 'image') !== 'image') return undefined;
    if (dep.annotations?.[ANNOTATION_IMAGE_ARCHIVE] || dep.annotations?.[ANNOTATION_IMAGE_PINNED])
      return undefined;
    if ((Object.values(BASE_IMAGES) as string[]).includes(dep.image)) return undefined;
    return this.images.resolveImage(dep.image, namespace);
  }

  private async storeCode(dep: FunctionDeployment, namespace: string): Promise<string> {
    const blob = Buffer.from(dep.code ?? '', 'base64');
    if (blob.length === 0) throw new InvalidArgumentError('code', 'empty archive');
    const digest = sha256(blob);
    await this.redis
      .multi()
      .set(this.keys.code(digest), blob)
      .sadd(this.keys.codeRefs(digest), fnKey(namespace, dep.service))
      .exec();
    return digest;
  }

  async get(namespace: string, name: string): Promise<FunctionEntry> {
    const entry = await this.find(namespace, name);
    if (!entry) throw new NotFoundError(`function ${namespace}/${name} not found`);
    return entry;
  }

  /** The function and its active version, or undefined; the cache loads through this. */
  find(namespace: string, name: string): Promise<FunctionEntry | undefined> {
    return redisOp(`fn get ${namespace}/${name}`, async () => {
      const record = await this.record(namespace, name);
      if (!record) return undefined;
      const raw = await this.redis.hget(this.keys.versions(namespace, name), String(record.active));
      return raw ? { record, version: JSON.parse(raw) as FunctionVersion } : undefined;
    });
  }

  list(namespace: string): Promise<FunctionEntry[]> {
    return redisOp(`fn list ${namespace}`, async () => {
      const all = await this.redis.hgetall(this.keys.functions(namespace));
      const records = Object.values(all).map((r) => JSON.parse(r) as FunctionRecord);
      const out: FunctionEntry[] = [];
      for (let at = 0; at < records.length; at += PIPELINE_CHUNK) {
        const part = records.slice(at, at + PIPELINE_CHUNK);
        const pipe = this.redis.pipeline();
        for (const r of part) pipe.hget(this.keys.versions(namespace, r.name), String(r.active));
        const res = (await pipe.exec()) ?? [];
        part.forEach((record, i) => {
          const raw = res[i]?.[1] as string | null;
          if (raw) out.push({ record, version: JSON.parse(raw) });
        });
      }
      return out.sort((a, b) => a.record.name.localeCompare(b.record.name));
    });
  }

  /**
   * At most `limit` functions of `namespace` whose names sort after `cursor`, and the cursor
   * of the next page (the last name here) when there are more. Reads every name (HKEYS: a few
   * bytes each) but only this page's records and versions, so a page of 10,000 costs one page.
   */
  page(
    namespace: string,
    limit: number,
    cursor?: string,
  ): Promise<{ entries: FunctionEntry[]; nextCursor?: string }> {
    return redisOp(`fn page ${namespace}`, async () => {
      const names = (await this.redis.hkeys(this.keys.functions(namespace))).sort(byCodeUnit);
      let start = 0;
      if (cursor !== undefined) {
        let hi = names.length;
        while (start < hi) {
          const mid = (start + hi) >>> 1;
          if (byCodeUnit(names[mid] as string, cursor) <= 0) start = mid + 1;
          else hi = mid;
        }
      }
      const slice = names.slice(start, start + limit);
      if (slice.length === 0) return { entries: [] };
      const raws = await this.redis.hmget(this.keys.functions(namespace), ...slice);
      const records = raws.filter((r): r is string => !!r).map((r) => JSON.parse(r) as FunctionRecord);
      const pipe = this.redis.pipeline();
      for (const r of records) pipe.hget(this.keys.versions(namespace, r.name), String(r.active));
      const res = (await pipe.exec()) ?? [];
      const entries: FunctionEntry[] = [];
      records.forEach((record, i) => {
        const raw = res[i]?.[1] as string | null;
        if (raw) entries.push({ record, version: JSON.parse(raw) });
      });
      const more = start + limit < names.length;
      return more ? { entries, nextCursor: slice[slice.length - 1] as string } : { entries };
    });
  }

  /** Every function of every namespace (cache warm-up, leader reconcile). */
  async listAll(): Promise<FunctionEntry[]> {
    const out: FunctionEntry[] = [];
    for (const ns of await this.namespaces()) out.push(...(await this.list(ns)));
    return out;
  }

  async namespaces(): Promise<string[]> {
    const set = await redisOp('ns list', () => this.redis.smembers(this.keys.namespaces));
    return [...new Set([DEFAULT_NAMESPACE, ...set])].sort();
  }

  async versions(namespace: string, name: string): Promise<FunctionVersionSummary[]> {
    const { record } = await this.get(namespace, name);
    const all = await redisOp('fn versions', () => this.redis.hgetall(this.keys.versions(namespace, name)));
    return Object.entries(all)
      .filter(([k]) => k !== SEQ)
      .map(([, raw]) => JSON.parse(raw) as FunctionVersion)
      .sort((a, b) => a.version - b.version)
      .map((v) => ({
        version: v.version,
        createdAt: v.createdAt,
        active: v.version === record.active,
        image: v.image || undefined,
        ...(v.imagePinned ? { imagePinned: v.imagePinned } : {}),
        runtime: v.runtime,
      }));
  }

  async rollback(namespace: string, name: string, version: number): Promise<FunctionVersion> {
    const { record } = await this.get(namespace, name);
    return redisOp(`fn rollback ${namespace}/${name}`, async () => {
      const raw = await this.redis.hget(this.keys.versions(namespace, name), String(version));
      if (!raw) throw new NotFoundError(`function ${namespace}/${name} version ${version} not found`);
      await this.writeRecord({ ...record, active: version });
      return JSON.parse(raw) as FunctionVersion;
    });
  }

  async setReplicas(namespace: string, name: string, replicas: number): Promise<FunctionEntry> {
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new InvalidArgumentError('replicas', 'expected a non-negative integer');
    }
    const entry = await this.get(namespace, name);
    const record = { ...entry.record, replicas, scaledAt: Date.now() };
    await redisOp(`fn scale ${namespace}/${name}`, () => this.writeRecord(record));
    return { ...entry, record };
  }

  /**
   * Deletes the function, all its versions, its stats, and the code blobs and dependencies
   * keys nobody else uses (agents then drop those layers in their deps GC).
   */
  async remove(namespace: string, name: string): Promise<void> {
    await this.get(namespace, name);
    await redisOp(`fn remove ${namespace}/${name}`, async () => {
      const all = await this.redis.hgetall(this.keys.versions(namespace, name));
      const versions = Object.entries(all)
        .filter(([k]) => k !== SEQ)
        .map(([, raw]) => JSON.parse(raw) as FunctionVersion);
      const digests = new Set(versions.map((v) => v.codeDigest).filter((d): d is string => !!d));
      const depsKeys = new Set(versions.map((v) => v.depsKey).filter((d): d is string => !!d));
      await this.redis
        .multi()
        .hdel(this.keys.functions(namespace), name)
        .del(this.keys.versions(namespace, name), this.keys.stats(namespace, name))
        .publish(this.keys.changed, fnKey(namespace, name))
        .exec();
      for (const d of digests) {
        await this.redis.srem(this.keys.codeRefs(d), fnKey(namespace, name));
        if ((await this.redis.scard(this.keys.codeRefs(d))) === 0) await this.redis.del(this.keys.code(d));
      }
      for (const k of depsKeys) {
        await this.redis.srem(this.keys.depsRefs(k), fnKey(namespace, name));
        if ((await this.redis.scard(this.keys.depsRefs(k))) === 0) await this.redis.del(this.keys.deps(k));
      }
    });
  }

  /** Invocation counts summed across replicas: `{ count, last }` per function. */
  async stats(namespace: string, names: string[]): Promise<Map<string, { count: number; last: number }>> {
    const out = new Map<string, { count: number; last: number }>();
    for (let at = 0; at < names.length; at += PIPELINE_CHUNK) {
      const part = names.slice(at, at + PIPELINE_CHUNK);
      const pipe = this.redis.pipeline();
      for (const n of part) pipe.hmget(this.keys.stats(namespace, n), 'count', 'last');
      const res = (await redisOp('fn stats', () => pipe.exec())) ?? [];
      part.forEach((n, i) => {
        const [count, last] = (res[i]?.[1] as (string | null)[]) ?? [];
        out.set(n, { count: Number(count ?? 0), last: Number(last ?? 0) });
      });
    }
    return out;
  }

  /** Adds this replica's invocation counts since the last flush. */
  async addStats(deltas: Map<string, { count: number; last: number }>): Promise<void> {
    if (deltas.size === 0) return;
    const pipe = this.redis.pipeline();
    for (const [key, d] of deltas) {
      const [ns, name] = key.split('/') as [string, string];
      pipe.hincrby(this.keys.stats(ns, name), 'count', d.count);
      // `last` only moves forward; a max over replicas without a script race is not needed here.
      pipe.hset(this.keys.stats(ns, name), 'last', d.last);
    }
    await redisOp('fn stats flush', () => pipe.exec());
  }

  private async record(namespace: string, name: string): Promise<FunctionRecord | undefined> {
    const raw = await this.redis.hget(this.keys.functions(namespace), name);
    return raw ? (JSON.parse(raw) as FunctionRecord) : undefined;
  }

  private async writeRecord(record: FunctionRecord): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.functions(record.namespace), record.name, JSON.stringify(record))
      .publish(this.keys.changed, fnKey(record.namespace, record.name))
      .exec();
  }
}
