/**
 * Message patterns for @nestjs/microservices (TCP transport). One place, so that a rename
 * can't leave a caller talking to nobody.
 */
export const SchedulerPatterns = {
  health: 'scheduler.health',
  info: 'scheduler.info',
  deploy: 'fn.deploy',
  update: 'fn.update',
  remove: 'fn.remove',
  get: 'fn.get',
  list: 'fn.list',
  /** One page of fn.list, for namespaces with thousands of functions. */
  page: 'fn.page',
  scale: 'fn.scale',
  versions: 'fn.versions',
  rollback: 'fn.rollback',
  namespaces: 'ns.list',
  secretList: 'secret.list',
  secretPut: 'secret.put',
  secretRemove: 'secret.remove',
  /** Agent → scheduler: decrypted secret values for an instance being specialized. */
  secretValues: 'secret.values',
  invoke: 'invoke',
  /** The direct route: a placement for the gateway to call agents with (direct-route.ts). */
  place: 'fn.place',
  /** The direct route's call counts, flushed by the gateway every second. */
  direct: 'fn.direct',
  enqueue: 'async.enqueue',
  deadLetters: 'async.dead',
  logs: 'logs.read',
  agents: 'agents.list',
  /** Streams ImagePullEvents, `done` last. */
  imagePull: 'image.pull',
  buildLog: 'build.log',
} as const;

export const AgentPatterns = {
  health: 'agent.health',
  invoke: 'agent.invoke',
  ensure: 'agent.ensure',
  retire: 'agent.retire',
  status: 'agent.status',
  logs: 'agent.logs',
  target: 'agent.target',
  /** Streams AgentPullEvents, `done` last. */
  pull: 'agent.pull',
  depsBuild: 'agent.deps.build',
} as const;

/** Redis keys, all under one prefix so several platforms can share a Redis. */
export function redisKeys(prefix = 'floe') {
  return {
    agent: (id: string) => `${prefix}:agents:${id}`,
    /** The agent's per-function instance counts (AgentHeartbeat), with the same TTL. */
    agentFunctions: (id: string) => `${prefix}:agents:${id}:functions`,
    agentsSet: `${prefix}:agents`,
    scheduler: (id: string) => `${prefix}:schedulers:${id}`,
    leader: `${prefix}:leader`,
    functions: (ns: string) => `${prefix}:fn:${ns}`,
    versions: (ns: string, name: string) => `${prefix}:fnv:${ns}:${name}`,
    namespaces: `${prefix}:namespaces`,
    secrets: (ns: string) => `${prefix}:secrets:${ns}`,
    asyncStream: `${prefix}:async`,
    asyncGroup: 'workers',
    deadLetters: `${prefix}:async:dead`,
    /** Function code archives by sha256, so any agent can fetch and import them. */
    code: (sha: string) => `${prefix}:code:${sha}`,
    /** A dependencies layer's lock files by key (JSON), so any agent can build it on demand. */
    deps: (key: string) => `${prefix}:deps:${key}`,
    /** A deploy's build log lines (RPUSH by the building agent, read by build.log), with a TTL. */
    buildLog: (id: string) => `${prefix}:build:${id}:log`,
    /** Pub/sub channel: a function changed (payload `ns/name`); caches drop it. */
    changed: `${prefix}:changed`,
  };
}
