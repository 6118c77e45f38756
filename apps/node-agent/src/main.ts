import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  Agent,
  DepsBuilder,
  leaseUsernsBlock,
  lockStateDir,
  recover,
  removeCgroupParent,
  SnapshotRootfs,
  UserNamespaces,
} from '@floe/agent-core';
import {
  type AgentInvokeWire,
  AgentPatterns,
  ConfigError,
  countUnauthenticated,
  EnvReader,
  FrameRpcServer,
  internalTlsFromEnv,
  invokeSocketPath,
  redisTlsOptions,
  reviveError,
  rpcClientOptions,
  rpcServerOptions,
  SchedulerPatterns,
} from '@floe/contracts';
import { namespaceCredentials } from '@floe/overlay-snapshots';
import { HostMountsFfi, NativeSyscalls, Runtime } from '@floe/runtime';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, type MicroserviceOptions, Transport } from '@nestjs/microservices';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { collectDefaultMetrics } from 'prom-client';
import { firstValueFrom } from 'rxjs';
import { AppModule } from './app.module.js';
import { loadConfig } from './config.js';

// A SIGTERM during start-up (recovery, base images) is honoured once the agent can shut
// down cleanly, instead of killing it halfway through and leaking what it was making.
let pendingSignal: string | undefined;
const early = (sig: string) => () => {
  pendingSignal = sig;
};
process.on('SIGTERM', early('SIGTERM'));
process.on('SIGINT', early('SIGINT'));

async function bootstrap() {
  const env = new EnvReader();
  const config = loadConfig(env);
  collectDefaultMetrics();
  // Every port below (and the scheduler's) requires this CA's certificates of its peers.
  const internalTls = await internalTlsFromEnv(env, config.stateDir, 'agent', config.id);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, ...redisTlsOptions(config.redis) });
  const agentDir = path.join(config.stateDir, 'agent');
  mkdirSync(agentDir, { recursive: true });
  const unlock = lockStateDir(agentDir);
  const invokeSocket = invokeSocketPath(agentDir, config.advertiseHost);
  const runtime = new Runtime({
    stateDir: agentDir,
    cgroupParent: config.cgroupParent,
    // A cold start's v1 cgroup attach otherwise waits out an RCU grace period. Opt-in: the
    // kernel switches every cgroup of the host to the per-threadgroup lock until reboot.
    favorDynmods: config.favorDynmods,
    // Only the dependencies build sandbox is bridged; functions have no network device.
    // Every agent on this host shares the bridge, so they share its address leases too.
    bridge: {
      name: config.build.bridge,
      subnet: config.build.subnet,
      ipamDir: path.join('/run/floe/ipam', config.build.bridge),
    },
  });
  if (config.favorDynmods && runtime.dynmods?.state === 'unsupported')
    console.warn(`agent ${config.id}: v1 cgroup attaches keep their RCU wait: ${runtime.dynmods.reason}`);
  const mounts = new HostMountsFfi();
  // Whatever a previous run of this agent left (kill -9) goes before we serve.
  const found = await recover(runtime, mounts, path.join(agentDir, 'instances'), config.cgroupParent);
  if (found.containers || found.mounts)
    console.log(
      `agent ${config.id}: recovered ${found.containers} container(s), ${found.mounts} mount(s) from a previous run`,
    );
  // Functions run unprivileged unless this agent is told otherwise; either way, say so.
  // Before any instance starts: the block of host ids no other agent on this host hands out.
  const lease = config.userns
    ? leaseUsernsBlock(config.userns, {
        pinned: config.userns.pinned,
        locks: new NativeSyscalls(),
        holder: `agent ${config.id} (pid ${process.pid}, ${config.stateDir})`,
      })
    : undefined;
  const userns = lease
    ? new UserNamespaces(lease.settings, mounts, path.join(agentDir, 'idmap'), [
        config.stateDir,
        config.layerDir,
      ])
    : undefined;
  if (lease)
    console.log(
      `node-agent ${config.id}: functions run in user namespaces, ${lease.settings.count} host id range(s) of ${lease.settings.size} from ${lease.settings.base} (leased: ${lease.lockFile})`,
    );
  else
    console.warn(
      `node-agent ${config.id}: FLOE_USERNS=off: functions run as HOST ROOT (no user namespace); a container escape is host root`,
    );
  const scheduler = ClientProxyFactory.create({
    transport: Transport.TCP,
    options: rpcClientOptions(config.scheduler, internalTls),
  });
  const secrets = async (namespace: string, names: string[]): Promise<Record<string, string>> => {
    try {
      return await firstValueFrom(scheduler.send(SchedulerPatterns.secretValues, { namespace, names }));
    } catch (err) {
      throw reviveError(err as never);
    }
  };
  const rootfs = await SnapshotRootfs.open(config.layerDir, {
    config: config.registry,
    credentials: (namespace) => namespaceCredentials((names) => secrets(namespace, names)),
    log: (line) => console.log(`node-agent ${config.id}: ${line}`),
  });

  const { build } = config;
  const deps = new DepsBuilder({
    runtime,
    service: rootfs.service,
    workDir: path.join(agentDir, 'builds'),
    mounts,
    ...(userns ? { userns } : {}),
    memoryBytes: build.memoryBytes,
    timeoutMs: build.timeoutMs,
    writableBytes: build.writableBytes,
    network: build.network,
    installer: { npmRegistry: build.npmRegistry, pipIndexUrl: build.pipIndexUrl, caFile: build.caFile },
  });

  const agent = await Agent.start(
    {
      id: config.id,
      rpc: `${config.advertiseHost}:${config.rpc.port}`,
      invoke: `${config.advertiseHost}:${config.invoke.port}`,
      ...(invokeSocket ? { invokeSocket } : {}),
      http: `${config.advertiseHost}:${config.http.port}`,
      stateDir: config.stateDir,
      labels: config.labels,
      memoryBytes: config.memoryBytes,
      overcommit: config.overcommit,
      cpus: config.cpus,
      pauseGraceMs: config.pauseGraceMs,
      keepAliveMs: config.keepAliveMs,
      reclaimAfterMs: config.reclaimAfterMs,
      stemcellBytes: config.stemcellBytes,
      writableBytes: config.writableBytes,
      logMaxBytes: config.logMaxBytes,
      heartbeatMs: config.heartbeatMs,
      heartbeatTtlMs: config.heartbeatTtlMs,
      stemcells: config.stemcells,
      sandboxes: config.sandboxes,
      maxBodyBytes: config.maxBodyBytes,
    },
    {
      redis,
      runtime,
      rootfs,
      mounts,
      userns,
      secrets,
      deps,
    },
  );

  // The invoke fast path: one Nest TCP hop costs ~0.4 ms hot here, a raw frame hop ~0.05 ms.
  // Control calls (ensure, retire, logs, status) stay on Nest TCP.
  const invokeHandlers = { [AgentPatterns.invoke]: (w: AgentInvokeWire) => agent.invokeWire(w) };
  const invokeChannel = new FrameRpcServer(invokeHandlers, 'agent', {
    tls: internalTls,
    listener: 'agent-invoke',
  });
  // The same fast path on a unix socket, for a gateway or scheduler on this host.
  const invokeLocal =
    invokeSocket &&
    new FrameRpcServer(invokeHandlers, 'agent', { tls: internalTls, listener: 'agent-invoke-unix' });
  let app: NestFastifyApplication | undefined;
  const teardown = async () => {
    await agent.stop();
    userns?.close();
    lease?.release();
    await invokeChannel.close();
    if (invokeLocal) await invokeLocal.close();
    await app?.close();
    scheduler.close();
    redis.disconnect();
    runtime.close();
    removeCgroupParent(runtime.cgroups, config.cgroupParent);
    unlock();
  };
  try {
    app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(agent), new FastifyAdapter(), {
      logger: ['error', 'warn'],
    });
    const rpc = app.connectMicroservice<MicroserviceOptions>({
      transport: Transport.TCP,
      options: rpcServerOptions(config.rpc, internalTls),
    });
    if (internalTls) countUnauthenticated(rpc, 'agent-rpc');
    await app.startAllMicroservices();
    await invokeChannel.listen(config.invoke.host, config.invoke.port);
    if (invokeLocal && invokeSocket) await invokeLocal.listenPath(invokeSocket);
    await app.listen(config.http.port, config.http.host);
    await agent.announce();
  } catch (err) {
    // The pool is already starting stemcells: a listener that fails (a port in use) must not
    // leave them running until the next start's recovery.
    await teardown().catch((e) => console.error(`node-agent ${config.id}: teardown failed:`, e));
    throw err;
  }
  console.log(
    `node-agent ${config.id}: rpc ${config.rpc.host}:${config.rpc.port}, invoke ${config.invoke.host}:${config.invoke.port}${invokeSocket ? ` and ${invokeSocket}` : ''}, http ${config.http.host}:${config.http.port}, cgroups ${runtime.cgroups.mode}, internal auth ${internalTls ? `on (${internalTls.certFile})` : 'OFF'}`,
  );

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`node-agent ${config.id}: ${sig}, destroying containers`);
    await teardown();
    process.exit(0);
  };
  process.removeAllListeners('SIGTERM').removeAllListeners('SIGINT');
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  if (pendingSignal) await stop(pendingSignal);
}

bootstrap().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
