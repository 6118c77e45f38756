import 'reflect-metadata';
import { ConfigError, EnvReader, internalTlsFromEnv } from '@floe/contracts';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { collectDefaultMetrics } from 'prom-client';
import { AppModule } from './app.module.js';
import { loadConfig } from './config.js';
import { connectRpc } from './rpc-listener.js';

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
  connectRpc(app, config);
  app.enableShutdownHooks();
  await app.startAllMicroservices();
  await app.listen(config.http.port, config.http.host);
  console.log(
    `scheduler ${config.id}: rpc ${config.rpc.host}:${config.rpc.port}, http ${config.http.host}:${config.http.port}, internal auth ${config.internalTls ? `on (${config.internalTls.certFile})` : 'OFF'}`,
  );
}

bootstrap().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
