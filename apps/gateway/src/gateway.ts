import type http from 'node:http';
import multipart from '@fastify/multipart';
import type { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { ensureAdminCredentials } from './admin-credentials.js';
import { AppModule } from './app.module.js';
import { registerBodyParsers } from './body-parsers.js';
import type { GatewayConfig } from './config.js';
import { registerHttpMetrics } from './http-metrics.hook.js';
import type { ImageSource } from './image-availability.js';
import { InvokeHandler } from './invoke.handler.js';
import { registerInvokeRoutes } from './invoke.routes.js';
import { GatewayMetrics } from './metrics.js';
import { listenPlainHttp, portOf } from './plain-http.js';
import { SchedulerClient } from './scheduler.client.js';
import { ensureTls, type TlsMaterial } from './tls.js';

/** A running gateway: both listeners, and what a start generated. */
export interface Gateway {
  app: NestFastifyApplication;
  tls: TlsMaterial;
  admin: { user: string; password: string; file?: string; generated: boolean };
  httpsPort: number;
  /** Port of the loopback plain-HTTP listener, when FLOE_GATEWAY_HTTP_PORT is set. */
  httpPort?: number;
  close(): Promise<void>;
}

/**
 * Builds and starts the gateway: TLS material and admin credentials first (generated on
 * first start), then one Fastify instance behind Nest for the management API, the raw
 * invoke routes on that same instance, and the listeners.
 */
export async function startGateway(
  config: GatewayConfig,
  opts: { logger?: LogLevel[] | false; defaultMetrics?: boolean; imageSources?: ImageSource[] } = {},
): Promise<Gateway> {
  const [tls, admin] = await Promise.all([ensureTls(config), ensureAdminCredentials(config)]);
  const adapter = new FastifyAdapter({
    https: { key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' },
    bodyLimit: config.maxDeployBytes,
    // Longer than common client idle timeouts, so pooled connections don't race a server close.
    keepAliveTimeout: 72_000,
    // On close, drop idle keep-alive connections but let in-flight calls finish (log followers
    // are ended by LogsService before the server closes).
    forceCloseConnections: 'idle',
    logger: false,
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, admin, {
      defaultMetrics: opts.defaultMetrics,
      imageSources: opts.imageSources,
    }),
    adapter,
    // Nest's parsers would read curl's default form content type as a form; body-parsers.ts
    // decides instead (Fastify's own JSON parser stays for application/json).
    { logger: opts.logger ?? ['error', 'warn'], bodyParser: false },
  );
  const fastify = app.getHttpAdapter().getInstance();
  await app.register(multipart, { limits: { fileSize: config.maxDeployBytes, files: 1, parts: 16 } });
  registerBodyParsers(fastify, config.maxDeployBytes);
  const metrics = app.get(GatewayMetrics);
  const scheduler = app.get(SchedulerClient);
  scheduler.observeRoutes((route) => metrics.routed(route));
  registerHttpMetrics(fastify, metrics);
  registerInvokeRoutes(fastify, config, scheduler, new InvokeHandler(config, scheduler, metrics));
  await app.listen(config.https.port, config.https.host);
  let plain: http.Server | undefined;
  if (config.http) plain = await listenPlainHttp(fastify, config.http);
  return {
    app,
    tls,
    admin,
    httpsPort: portOf(app.getHttpServer()),
    httpPort: plain ? portOf(plain) : undefined,
    async close() {
      // Node's server.close() also drops idle keep-alive connections and waits for in-flight ones.
      if (plain) await new Promise((r) => plain.close(r));
      await app.close();
    },
  };
}
