import type { FunctionVersion } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { buildVersion } from './function-version.js';
import { rankAgents } from './placement.js';
import { agentInfo } from './testing/fixtures.js';

const MiB = 1024 ** 2;
const v: FunctionVersion = buildVersion(
  {
    service: 'echo',
    runtime: 'node',
    handler: 'index.js',
    code: 'UEsFBg==',
    labels: { 'com.openfaas.scale.max': '3' },
  },
  { version: 1, createdAt: 'now' },
);
const key = 'openfaas-fn/echo';

describe(rankAgents.name, () => {
  it('prefers an agent with an idle instance, then a stemcell, then the most free memory', () => {
    const warm = agentInfo('warm', {
      functions: { [key]: { instances: 1, idle: 1, inflight: 0 } },
      free: { memoryBytes: 200 * MiB },
    });
    const stem = agentInfo('stem', { stemcells: { node: 2 }, free: { memoryBytes: 300 * MiB } });
    const big = agentInfo('big', { free: { memoryBytes: 4000 * MiB } });
    const small = agentInfo('small', { free: { memoryBytes: 1000 * MiB } });
    const ranked = rankAgents(v, [small, big, stem, warm], () => 0);
    expect(ranked.map((c) => [c.agent.id, c.tier])).toEqual([
      ['warm', 'warm'],
      ['stem', 'stemcell'],
      ['big', 'cold'],
      ['small', 'cold'],
    ]);
  });

  it('counts our own in-flight calls against maxConcurrency × instances', () => {
    const a = agentInfo('a', {
      functions: { [key]: { instances: 1, idle: 1, inflight: 0 } },
      free: { memoryBytes: 0 },
    });
    expect(rankAgents(v, [a], () => 0)).toHaveLength(1);
    expect(rankAgents(v, [a], () => 1)).toEqual([]);
  });

  it('skips agents whose free memory cannot fit the function', () => {
    const tiny = agentInfo('tiny', { free: { memoryBytes: 64 * MiB }, stemcells: { node: 1 } });
    expect(rankAgents(v, [tiny], () => 0)).toEqual([]);
  });

  it('does not start instances past max scale', () => {
    const full = { [key]: { instances: 3, idle: 0, inflight: 3 } };
    const busy = agentInfo('busy', { functions: full });
    const other = agentInfo('other');
    expect(rankAgents(v, [busy, other], (id) => (id === 'busy' ? 3 : 0))).toEqual([]);
  });

  it("trusts its own in-flight count over an agent's stale report of all busy", () => {
    const reportedBusy = { [key]: { instances: 3, idle: 0, inflight: 3 } };
    const a = agentInfo('a', { functions: reportedBusy });
    expect(rankAgents(v, [a], () => 1).map((c) => [c.agent.id, c.tier])).toEqual([['a', 'warm']]);
  });

  it('uses the stemcell of the function runtime only', () => {
    const py = agentInfo('py', { stemcells: { python: 3 }, free: { memoryBytes: 9000 * MiB } });
    const node = agentInfo('node', { stemcells: { node: 1 }, free: { memoryBytes: 500 * MiB } });
    expect(rankAgents(v, [py, node], () => 0).map((c) => c.agent.id)).toEqual(['node', 'py']);
  });

  it('after agents with room, ranks agents that can make room by evicting idle instances, most room first', () => {
    const roomy = agentInfo('roomy', { free: { memoryBytes: 200 * MiB } });
    const evictSome = agentInfo('evict-some', {
      free: { memoryBytes: 64 * MiB },
      evictable: { memoryBytes: 100 * MiB },
    });
    const evictMore = agentInfo('evict-more', {
      free: { memoryBytes: 0 },
      evictable: { memoryBytes: 4000 * MiB },
    });
    const ranked = rankAgents(v, [evictSome, evictMore, roomy], () => 0);
    expect(ranked.map((c) => [c.agent.id, c.tier])).toEqual([
      ['roomy', 'cold'],
      ['evict-more', 'evict'],
      ['evict-some', 'evict'],
    ]);
  });

  it('queues when no agent can make room without touching a busy instance', () => {
    const busyFull = agentInfo('full', {
      free: { memoryBytes: 16 * MiB },
      evictable: { memoryBytes: 32 * MiB },
    });
    const old = agentInfo('old', { free: { memoryBytes: 0 } });
    expect(rankAgents(v, [busyFull, old], () => 0)).toEqual([]);
  });

  it('does not evict for a function at its max scale', () => {
    const full = { [key]: { instances: 3, idle: 0, inflight: 3 } };
    const a = agentInfo('a', {
      functions: full,
      free: { memoryBytes: 0 },
      evictable: { memoryBytes: 9000 * MiB },
    });
    expect(rankAgents(v, [a], () => 3)).toEqual([]);
  });
});
