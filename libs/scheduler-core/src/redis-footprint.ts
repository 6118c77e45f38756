import type { Redis } from 'ioredis';
import type { SchedulerKeys } from './keys.js';

export interface RedisFootprint {
  /** Functions deployed, over all namespaces. */
  functions: number;
  /** Functions whose keys were measured. */
  sampled: number;
  /** Mean Redis bytes per function: its record, its versions hash and its stats hash. */
  bytesPerFunction: number;
}

/**
 * What a deployed function costs in Redis, estimated from `MEMORY USAGE` of a random sample
 * (HRANDFIELD) of at most `sample` functions per namespace: their versions and stats hashes,
 * plus each namespace's record hash divided among its functions. Code blobs are left out:
 * they are shared by digest and weigh what the archive weighs. Cheap at 10,000 functions:
 * one HLEN per namespace, and 2 × `sample` MEMORY USAGE calls.
 */
export async function measureRedisFootprint(
  redis: Redis,
  keys: SchedulerKeys,
  namespaces: string[],
  sample = 50,
): Promise<RedisFootprint> {
  let functions = 0;
  let sampled = 0;
  let bytes = 0;
  for (const ns of namespaces) {
    const n = await redis.hlen(keys.functions(ns));
    if (n === 0) continue;
    functions += n;
    const names = ((await redis.hrandfield(keys.functions(ns), Math.min(sample, n))) as string[]) ?? [];
    const pipe = redis.pipeline();
    pipe.memory('USAGE', keys.functions(ns));
    for (const name of names) {
      pipe.memory('USAGE', keys.versions(ns, name));
      pipe.memory('USAGE', keys.stats(ns, name));
    }
    const res = (await pipe.exec()) ?? [];
    const perRecord = Number(res[0]?.[1] ?? 0) / n;
    let sum = 0;
    for (let i = 1; i < res.length; i++) sum += Number(res[i]?.[1] ?? 0);
    // Extrapolated from the sample to the namespace, weighted by its size.
    bytes += (names.length ? sum / names.length + perRecord : perRecord) * n;
    sampled += names.length;
  }
  return { functions, sampled, bytesPerFunction: functions ? Math.round(bytes / functions) : 0 };
}
