import type { AgentInfo, FunctionVersion } from '@floe/contracts';

/** Why an agent was chosen, in placement order; also the `result` label of placement metrics. */
export type PlacementTier = 'warm' | 'stemcell' | 'cold' | 'evict';

export interface Candidate {
  agent: AgentInfo;
  tier: PlacementTier;
}

/**
 * Orders the agents that can take one more call of `version`, best first:
 * 1. agents with an idle or paused instance (spare concurrency: instances × maxConcurrency
 *    minus this replica's own in-flight calls there);
 * 2. agents with a stemcell of the runtime, while the function is below its max scale;
 * 3. agents whose free memory fits the function, most free first, same cap;
 * 4. agents that can make room by evicting idle or frozen instances (free plus evictable memory
 *    fits), most room first, same cap: the agent evicts least-likely-called first (agent-core
 *    capacity.ts) and never a busy instance.
 * An empty answer means "queue the call": every agent is full of busy instances, or the
 * function is at its max scale. Pure: the caller passes this replica's in-flight
 * counts, so it can be table-tested.
 */
export function rankAgents(
  version: FunctionVersion,
  agents: readonly AgentInfo[],
  inflightOn: (agentId: string) => number,
): Candidate[] {
  const key = `${version.namespace}/${version.name}`;
  const warm: { agent: AgentInfo; spare: number }[] = [];
  const stemcell: AgentInfo[] = [];
  const cold: AgentInfo[] = [];
  const evict: AgentInfo[] = [];
  let instances = 0;
  for (const a of agents) instances += a.functions[key]?.instances ?? 0;
  const mayGrow = instances < version.maxScale;
  for (const a of agents) {
    const f = a.functions[key];
    // Our own count, not the agent's: its report is up to a heartbeat (1 s) old, and a stale
    // "all busy" held calls in the queue for up to a second while the instances sat idle
    // (p99 ~0.9 s at 64 connections). With several scheduler replicas an agent may get more
    // calls than it has free instances; its pool queues them, first come, first served.
    const busy = inflightOn(a.id);
    const spare = (f?.instances ?? 0) * version.maxConcurrency - busy;
    if (f && f.instances > 0 && spare > 0) {
      warm.push({ agent: a, spare });
      continue;
    }
    if (!mayGrow) continue;
    if (a.free.memoryBytes < version.memoryBytes) {
      if (room(a) >= version.memoryBytes) evict.push(a);
      continue;
    }
    if ((a.stemcells[version.runtime] ?? 0) > 0) stemcell.push(a);
    else cold.push(a);
  }
  warm.sort((x, y) => y.spare - x.spare);
  const byFree = (x: AgentInfo, y: AgentInfo) => y.free.memoryBytes - x.free.memoryBytes;
  stemcell.sort(byFree);
  cold.sort(byFree);
  evict.sort((x, y) => room(y) - room(x));
  return [
    ...warm.map((w) => ({ agent: w.agent, tier: 'warm' as const })),
    ...stemcell.map((agent) => ({ agent, tier: 'stemcell' as const })),
    ...cold.map((agent) => ({ agent, tier: 'cold' as const })),
    ...evict.map((agent) => ({ agent, tier: 'evict' as const })),
  ];
}

/** Memory the agent could give a new instance: free now plus what evicting idle ones frees. */
function room(a: AgentInfo): number {
  return a.free.memoryBytes + (a.evictable?.memoryBytes ?? 0);
}
