import { countUnauthenticated, rpcServerOptions } from '@floe/contracts';
import type { INestApplication } from '@nestjs/common';
import { type MicroserviceOptions, Transport } from '@nestjs/microservices';
import type { SchedulerConfig } from './config.js';

/**
 * The scheduler's Nest TCP RPC listener, as main.ts and the in-process test boot both attach
 * it: mutual TLS with the cluster CA when `config.internalTls` is set, a refused peer counted
 * in `floe_rpc_unauthenticated_total{listener="scheduler-rpc"}`.
 */
export function connectRpc(app: INestApplication, config: SchedulerConfig): void {
  const rpc = app.connectMicroservice<MicroserviceOptions>({
    transport: Transport.TCP,
    options: rpcServerOptions(config.rpc, config.internalTls),
  });
  if (config.internalTls) countUnauthenticated(rpc, 'scheduler-rpc');
}
