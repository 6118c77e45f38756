import {
  type AgentInfo,
  type AgentPullEvent,
  FloeError,
  type ImagePullEvent,
  NotFoundError,
} from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import type { AgentClient, AgentClientFactory } from './agent-client.js';
import type { AgentDirectory } from './agent-directory.js';
import { ImagePullService } from './image-pull.js';
import type { ImageResolver } from './image-resolver.js';

const agent = (id: string) => ({ id }) as AgentInfo;
const directory = (ids: string[]) =>
  ({
    agents: () => ids.map(agent),
    all: () => ids.map(agent),
    get: (id: string) => (ids.includes(id) ? agent(id) : undefined),
  }) as unknown as AgentDirectory;
const resolver = {
  describe: async () => ({
    pinned: 'r:5000/a@sha256:m',
    digest: 'sha256:m',
    layers: [
      { digest: 'l1', size: 60 },
      { digest: 'l2', size: 40 },
    ],
    size: 100,
  }),
} as unknown as ImageResolver;

/** Agents whose pull plays `script`: events, then an error if one is given. */
function clients(script: Record<string, { events: AgentPullEvent[]; fail?: FloeError }>): AgentClientFactory {
  return {
    get: (a: AgentInfo) =>
      ({
        pull: async (_req: unknown, on: (e: AgentPullEvent) => void) => {
          for (const e of script[a.id]!.events) on(e);
          if (script[a.id]!.fail) throw script[a.id]!.fail;
        },
      }) as unknown as AgentClient,
    drop: () => {},
    closeAll: () => {},
  };
}

describe('ImagePullService', () => {
  it('resolves once, forwards each agent’s layer bytes with its running total, and reports every agent', async () => {
    const svc = new ImagePullService(
      resolver,
      directory(['a1', 'a2']),
      clients({
        a1: {
          events: [
            { type: 'layer', digest: 'l1', size: 60, bytes: 30 },
            { type: 'layer', digest: 'l1', size: 60, bytes: 60 },
            { type: 'layer', digest: 'l2', size: 40, bytes: 40, cached: true },
            { type: 'done', digest: 'sha256:m', size: 500, layers: 2 },
          ],
        },
        a2: { events: [], fail: new FloeError('UNAVAILABLE', 'disk full') },
      }),
      1000,
    );
    const seen: ImagePullEvent[] = [];
    await svc.pull({ image: 'r:5000/a:1', namespace: 'ns' }, (e) => seen.push(e));
    expect(seen[0]).toMatchObject({ type: 'resolved', pinned: 'r:5000/a@sha256:m', agents: ['a1', 'a2'] });
    expect(seen.filter((e) => e.type === 'layer').map((e) => e.type === 'layer' && e.done)).toEqual([
      30, 60, 100,
    ]);
    const done = seen.at(-1);
    expect(done).toMatchObject({ type: 'done', digest: 'sha256:m', size: 100, layers: 2 });
    expect(done?.type === 'done' && done.agents.map((a) => [a.agent, a.ok, a.error?.code])).toEqual([
      ['a1', true, undefined],
      ['a2', false, 'UNAVAILABLE'],
    ]);
  });

  it('an agent whose stream ends without done counts as failed', async () => {
    const svc = new ImagePullService(resolver, directory(['a1']), clients({ a1: { events: [] } }), 1000);
    const seen: ImagePullEvent[] = [];
    await svc.pull({ image: 'r:5000/a:1', namespace: 'ns' }, (e) => seen.push(e));
    expect(seen.at(-1)).toMatchObject({ type: 'done', agents: [{ agent: 'a1', ok: false }] });
  });

  it('fails before any event on a refused ref, an unknown agent or no agent at all', async () => {
    const refusing = {
      describe: async () => {
        throw new NotFoundError('image r:5000/a:nope: MANIFEST_UNKNOWN', { field: 'image' });
      },
    } as unknown as ImageResolver;
    const seen: ImagePullEvent[] = [];
    const pull = (svc: ImagePullService, agents?: string[]) =>
      svc.pull({ image: 'r:5000/a:nope', namespace: 'ns', ...(agents ? { agents } : {}) }, (e) =>
        seen.push(e),
      );
    const none = clients({});
    await expect(pull(new ImagePullService(refusing, directory(['a1']), none, 1000))).rejects.toMatchObject({
      code: 'NOT_FOUND',
      details: { field: 'image' },
    });
    await expect(
      pull(new ImagePullService(resolver, directory(['a1']), none, 1000), ['a9']),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { field: 'agents' },
    });
    await expect(pull(new ImagePullService(resolver, directory([]), none, 1000))).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    expect(seen).toEqual([]);
  });
});
