import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { servePipIndex } from '../libs/agent-core/src/testing/pip-index.js';
// The same launcher `npm start` uses, so the e2e suite runs the platform a user runs.
import { startPlatform } from '../scripts/lib/platform.mjs';
import { startRedis } from '../scripts/lib/redis.mjs';

/**
 * The agents' build sandbox reaches the host at its bridge's gateway (FLOE_BUILD_SUBNET's
 * default 10.89.0.0/16): the local package index for python dependencies is served there,
 * since this machine may not reach PyPI.
 */
const BUILD_GATEWAY = '10.89.0.1';

declare module 'vitest' {
  export interface ProvidedContext {
    floe: {
      url: string;
      user: string;
      password: string;
      stateDir: string;
      redisUrl: string;
      agentHttp: string[];
      /** Every internal port, for specs that attack them (internal-auth.e2e.spec.ts). */
      internal: {
        scheduler: { rpc: number; invoke: number; http: number; pid: number };
        agents: { rpc: number; invoke: number; http: number; invokeSocket: string }[];
        redisPort: number;
        redisPasswordFile: string;
        caDir: string;
        /** A client certificate of the cluster CA (what another service would hold). */
        clientCertDir: string;
      };
      /** Every TCP port the platform listens on (gateway, scheduler, agents), for the hostile suite. */
      platformPorts: number[];
      /** The agents' FLOE_PIP_INDEX_URL serves `floe-hello==1.0` (deps.e2e.spec.ts). */
      pipIndex: boolean;
    };
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-e2e-'));
  // Its own Redis: e2e specs share nothing with a platform a developer may be running.
  const redis = await startRedis({ dir: path.join(dir, 'redis') });
  const pipIndex = await servePipIndex([
    { name: 'floe-hello', version: '1.0', module: 'floe_hello', body: 'GREETING = "hello from a wheel"\n' },
  ]).catch((err) => {
    console.warn(`[e2e] no local pip index (python dependency tests skip): ${(err as Error).message}`);
    return undefined;
  });
  const platform = await startPlatform({
    stateDir: dir,
    redisUrl: redis.url,
    quiet: process.env.FLOE_E2E_VERBOSE !== '1',
    env: {
      FLOE_ADMIN_PASSWORD: 'e2e-secret-password',
      FLOE_STEMCELLS: '1',
      FLOE_PAUSE_GRACE_MS: '50',
      ...(pipIndex ? { FLOE_PIP_INDEX_URL: pipIndex.url(BUILD_GATEWAY) } : {}),
    },
  });
  project.provide('floe', {
    url: platform.url,
    user: 'admin',
    password: 'e2e-secret-password',
    stateDir: dir,
    redisUrl: redis.url,
    agentHttp: platform.agents.map((a: { http: number }) => `http://127.0.0.1:${a.http}`),
    internal: {
      scheduler: {
        rpc: platform.scheduler.rpc,
        invoke: platform.scheduler.invoke,
        http: platform.scheduler.http,
        pid: platform.scheduler.child.pid,
      },
      agents: platform.agents.map((a: { rpc: number; invoke: number; http: number; stateDir: string }) => ({
        rpc: a.rpc,
        invoke: a.invoke,
        http: a.http,
        // The same fast path for peers on this host (0600, the loopback handshake).
        invokeSocket: path.join(a.stateDir, 'agent', 'invoke.sock'),
      })),
      redisPort: redis.port,
      redisPasswordFile: redis.passwordFile,
      caDir: platform.caDir,
      clientCertDir: path.join(dir, 'pki', 'client'),
    },
    pipIndex: pipIndex !== undefined,
    platformPorts: [
      platform.port,
      platform.scheduler.rpc,
      platform.scheduler.http,
      platform.scheduler.invoke,
      ...platform.agents.flatMap((a: { rpc: number; http: number; invoke: number }) => [
        a.rpc,
        a.http,
        a.invoke,
      ]),
    ],
  });
  return async () => {
    await platform.stop();
    await pipIndex?.close();
    redis.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
}
