import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
// The same launcher `npm start` uses, so the e2e suite runs the platform a user runs.
import { startPlatform } from '../scripts/lib/platform.mjs';
import { startRedis } from '../scripts/lib/redis.mjs';

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
        agents: { rpc: number; invoke: number; http: number }[];
        redisPort: number;
        redisPasswordFile: string;
        caDir: string;
        /** A client certificate of the cluster CA (what another service would hold). */
        clientCertDir: string;
      };
      /** Every TCP port the platform listens on (gateway, scheduler, agents), for the hostile suite. */
      platformPorts: number[];
    };
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-e2e-'));
  // Its own Redis: e2e specs share nothing with a platform a developer may be running.
  const redis = await startRedis({ dir: path.join(dir, 'redis') });
  const platform = await startPlatform({
    stateDir: dir,
    redisUrl: redis.url,
    quiet: process.env.FLOE_E2E_VERBOSE !== '1',
    env: { FLOE_ADMIN_PASSWORD: 'e2e-secret-password', FLOE_STEMCELLS: '1', FLOE_PAUSE_GRACE_MS: '50' },
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
      agents: platform.agents.map((a: { rpc: number; invoke: number; http: number }) => ({
        rpc: a.rpc,
        invoke: a.invoke,
        http: a.http,
      })),
      redisPort: redis.port,
      redisPasswordFile: redis.passwordFile,
      caDir: platform.caDir,
      clientCertDir: path.join(dir, 'pki', 'client'),
    },
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
    redis.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
}
