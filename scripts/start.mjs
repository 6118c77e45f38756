#!/usr/bin/env node
// `npm start`: install what is missing, start Redis (unless REDIS_URL), the scheduler, one
// node-agent and the gateway; Ctrl-C stops everything and leaves nothing behind.
import path from 'node:path';
import { startPlatform } from './lib/platform.mjs';
import { startRedis } from './lib/redis.mjs';
import { log, setup, stateDir } from './lib/setup.mjs';

const dir = stateDir();
await setup();

let redis;
let redisUrl = process.env.REDIS_URL;
if (!redisUrl) {
  redis = await startRedis({
    dir: path.join(dir, 'redis'),
    port: Number(process.env.FLOE_REDIS_PORT ?? 6380),
  });
  redisUrl = redis.url;
  log(
    `embedded Redis on ${redis.where}, password in ${redis.passwordFile} (data in ${path.join(dir, 'redis')})`,
  );
}

let platform;
let stopping = false;
async function shutdown(sig) {
  if (stopping) return;
  stopping = true;
  log(`${sig}: stopping`);
  await platform?.stop();
  redis?.child.kill('SIGTERM');
  process.exit(0);
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGHUP', () => shutdown('SIGHUP'));
// `kill <npm pid>` does not always reach us through npm: when our parent goes, so do we.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) shutdown('parent exited');
}, 500).unref();

try {
  platform = await startPlatform({
    stateDir: dir,
    redisUrl,
    gatewayPort: Number(process.env.FLOE_GATEWAY_PORT ?? 8443),
    fixedPorts: true,
    // A service that crashes is restarted with backoff, and a crash loop is reported.
    supervise: true,
  });
} catch (err) {
  log(err.message);
  redis?.child.kill('SIGTERM');
  process.exit(1);
}
console.log(`\nFloe is up: ${platform.url}`);
console.log(
  `admin credentials: ${platform.credFile}${platform.credentials ? ` (${platform.credentials.split(':')[0]}:…)` : ''}`,
);
console.log(`try: curl -k ${platform.url}/healthz\n`);
