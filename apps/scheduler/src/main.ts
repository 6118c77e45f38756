import 'reflect-metadata';
import {
  ConfigError,
  countUnauthenticated,
  EnvReader,
  internalTlsFromEnv,
  serverTlsOptions,
} from '@floe/contracts';
import { NestFactory } from '@nestjs/core';
import { type MicroserviceOptions, Transport } from '@nestjs/microservices';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { collectDefaultMetrics } from 'prom-client';
import { AppModule } from './app.module.js';
import { loadConfig } from './config.js';

async function bootstrap() {
  const env = new EnvReader();
  const config = loadConfig(env);
  config.internalTls = await internalTlsFromEnv(env, config.stateDir, 'scheduler', config.id);
  collectDefaultMetrics();
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config),
    new FastifyAdapter(),
    {
      logger: ['error', 'warn', 'log'],
    },
  );
  const tlsOptions = config.internalTls && serverTlsOptions(config.internalTls);
  const rpc = app.connectMicroservice<MicroserviceOptions>({
    transport: Transport.TCP,
    options: { ...config.rpc, tlsOptions },
  });
  if (tlsOptions) countUnauthenticated(rpc, 'scheduler-rpc');
  app.enableShutdownHooks();
  await app.startAllMicroservices();
  await app.listen(config.http.port, config.http.host);
  console.log(
    `scheduler ${config.id}: rpc ${config.rpc.host}:${config.rpc.port}, http ${config.http.host}:${config.http.port}, internal TLS ${config.internalTls ? `on (${config.internalTls.certFile})` : 'OFF'}`,
  );
}

bootstrap().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
