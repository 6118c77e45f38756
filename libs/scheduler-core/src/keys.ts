import { redisKeys } from '@floe/contracts';

/** The shared Redis keys plus the few only the scheduler reads and writes. */
export function schedulerKeys(prefix = 'floe') {
  return {
    ...redisKeys(prefix),
    prefix,
    /** Hash `count`, `last` (epoch ms): invocations summed over scheduler replicas. */
    stats: (ns: string, name: string) => `${prefix}:fnstats:${ns}:${name}`,
    /** Hash entry id → attempts made, so a call that keeps killing its worker still ends as a dead letter. */
    asyncAttempts: `${prefix}:async:attempts`,
    /** Set of `ns/name` using a code blob, so removing a function frees blobs nobody else uses. */
    codeRefs: (sha: string) => `${prefix}:coderefs:${sha}`,
    /** Set of `ns/name` whose versions use a deps key; when it empties the key is dropped (GC). */
    depsRefs: (key: string) => `${prefix}:depsrefs:${key}`,
  };
}

export type SchedulerKeys = ReturnType<typeof schedulerKeys>;

export function fnKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
