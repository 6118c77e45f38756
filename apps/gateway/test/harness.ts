import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EnvReader } from '@floe/contracts';
import { loadConfig } from '../src/config.js';
import { type Gateway, startGateway } from '../src/gateway.js';
import { startFakeScheduler } from './fake-scheduler.js';
import { client } from './https-client.js';

/** A gateway on free ports (HTTPS and loopback HTTP) in a fresh state dir, against the fake scheduler. */
export interface Harness {
  gw: Gateway;
  fake: Awaited<ReturnType<typeof startFakeScheduler>>;
  /** Keep-alive HTTPS client trusting the generated certificate. */
  api: ReturnType<typeof client>;
  /** `user:password` of the generated admin credentials. */
  auth: string;
  stateDir: string;
  stop(): Promise<void>;
}

/**
 * `anyImage` (default on) stands in for a registry that has every image, since the fake
 * scheduler runs none; specs of the unknown-image check turn it off.
 */
export async function bootGateway(
  env: Record<string, string> = {},
  opts: { anyImage?: boolean } = {},
): Promise<Harness> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'floe-gw-'));
  const fake = await startFakeScheduler();
  const config = loadConfig(
    new EnvReader({
      FLOE_STATE_DIR: stateDir,
      FLOE_GATEWAY_HOST: '127.0.0.1',
      FLOE_GATEWAY_PORT: '0',
      FLOE_GATEWAY_HTTP_PORT: '0',
      FLOE_SCHEDULER_RPC: `127.0.0.1:${fake.port}`,
      FLOE_SCHEDULER_INVOKE: `127.0.0.1:${fake.invokePort}`,
      FLOE_MAX_BODY_BYTES: '1Mi',
      FLOE_MAX_IMAGE_BYTES: '60Mi',
      FLOE_LOGS_POLL_MS: '100',
      FLOE_INVOKE_TIMEOUT_MS: '1000',
      ...env,
    }),
  );
  const gw = await startGateway(config, {
    logger: false,
    imageSources: opts.anyImage === false ? [] : [async () => true],
  });
  const api = client(`https://localhost:${gw.httpsPort}`, gw.tls.cert);
  let stopped: Promise<void> | undefined;
  return {
    gw,
    fake,
    api,
    auth: `${gw.admin.user}:${gw.admin.password}`,
    stateDir,
    stop() {
      stopped ??= (async () => {
        api.close();
        await gw.close();
        await fake.stop();
        rmSync(stateDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
