import { afterEach, describe, expect, it } from 'vitest';
import { type AgentInvokeWire, versionRef } from '../agent-rpc.js';
import { FloeError } from '../errors.js';
import type { FunctionVersion } from '../function.js';
import { AgentPatterns } from '../patterns.js';
import { AgentInvokeClient } from './agent-invoke-client.js';
import { FrameRpcClient } from './frame-rpc-client.js';
import { FrameRpcServer } from './frame-rpc-server.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const version = (v: number, createdAt = '2026-11-29T00:00:00.000Z') =>
  ({ namespace: 'ns', name: 'f', version: v, createdAt, runtime: 'node' }) as FunctionVersion;
const request = {
  callId: 'c',
  function: 'f',
  namespace: 'ns',
  method: 'GET',
  path: '/',
  query: '',
  headers: {},
  body: Buffer.alloc(0),
};

/** An agent's side as agent-core's VersionCache behaves: keeps what came whole, refuses unknown refs. */
async function agent() {
  const cache = new Map<string, FunctionVersion>();
  const seen: AgentInvokeWire[] = [];
  const server = new FrameRpcServer(
    {
      [AgentPatterns.invoke]: (w: AgentInvokeWire) => {
        seen.push(w);
        if (w.version && w.ref) cache.set(w.ref, w.version);
        const v = w.version ?? cache.get(w.ref ?? '');
        if (!v) throw new FloeError('FAILED_PRECONDITION', 'unknown', { details: { versionUnknown: w.ref } });
        return { status: 200, version: v.version };
      },
    },
    'agent',
  );
  const port = await server.listen('127.0.0.1', 0);
  const client = new AgentInvokeClient(new FrameRpcClient({ host: '127.0.0.1', port }));
  cleanups.push(
    () => server.close(),
    () => client.close(),
  );
  return { cache, seen, client };
}

describe(AgentInvokeClient.name, () => {
  it('sends a version whole once, then by ref', async () => {
    const { seen, client } = await agent();
    for (let i = 0; i < 3; i++) await client.invoke({ request, version: version(1) }, 1000);
    expect(seen.map((w) => Boolean(w.version))).toEqual([true, false, false]);
    expect(seen.every((w) => w.ref === versionRef(version(1)))).toBe(true);
  });

  it('resends a version whole when the agent no longer has it (restarted or evicted)', async () => {
    const { cache, seen, client } = await agent();
    await client.invoke({ request, version: version(1) }, 1000);
    cache.clear();
    expect(await client.invoke({ request, version: version(1) }, 1000)).toMatchObject({ status: 200 });
    expect(seen.map((w) => Boolean(w.version))).toEqual([true, false, true]);
  });

  it('tells apart a version number reused after the function was deleted and deployed again', async () => {
    const { seen, client } = await agent();
    await client.invoke({ request, version: version(1) }, 1000);
    await client.invoke({ request, version: version(1, '2026-11-30T00:00:00.000Z') }, 1000);
    expect(seen.map((w) => Boolean(w.version))).toEqual([true, true]);
  });
});
