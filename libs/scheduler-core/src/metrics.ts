import { Counter, Gauge } from 'prom-client';

/**
 * Every scheduler metric, in one place, on prom-client's default registry. Names are
 * `<subsystem>_<name>_<unit>`; labels stay low-cardinality (function names are bounded
 * by what users deploy, as in OpenFaaS's gateway metrics).
 */
export const metrics = {
  placements: new Counter({
    name: 'scheduler_placements_total',
    help: 'Invocation placements by result: warm, stemcell, cold, evict, queued, retried, exhausted, not_found; direct (handed to a gateway for its direct route), direct_none (no warm agent: the gateway hands its calls back)',
    labelNames: ['result'] as const,
  }),
  queueDepth: new Gauge({ name: 'scheduler_queue_depth', help: 'Invocations waiting for capacity' }),
  asyncBacklog: new Gauge({
    name: 'scheduler_async_backlog',
    help: 'Async calls accepted but not completed (stream pending + lag of the workers group)',
  }),
  asyncDeadLetters: new Gauge({
    name: 'scheduler_async_dead_letters',
    help: 'Async calls in the dead-letter list',
  }),
  asyncAttempts: new Counter({
    name: 'scheduler_async_attempts_total',
    help: 'Async invocation attempts by outcome: ok, retry, dead, callback_failed',
    labelNames: ['outcome'] as const,
  }),
  agents: new Gauge({
    name: 'scheduler_agents',
    help: 'Known agents by state',
    labelNames: ['state'] as const,
  }),
  replicas: new Gauge({
    name: 'scheduler_replicas',
    help: 'Instances per function summed over agents; function_name is `name.namespace` as in OpenFaaS',
    labelNames: ['function_name'] as const,
  }),
  functionsDeployed: new Gauge({
    name: 'scheduler_functions_deployed',
    help: 'Functions deployed over all namespaces (sampled with the Redis footprint, every 30 s)',
  }),
  redisBytesPerFunction: new Gauge({
    name: 'scheduler_redis_bytes_per_function',
    help: 'Mean Redis memory of one function (record, versions, stats; code blobs apart), from MEMORY USAGE of a sample',
  }),
  isLeader: new Gauge({ name: 'scheduler_is_leader', help: '1 while this replica holds the leader lease' }),
};
