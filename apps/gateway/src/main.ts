import 'reflect-metadata';
import { ConfigError, EnvReader, internalTlsFromEnv } from '@floe/contracts';
import { loadConfig } from './config.js';
import { startGateway } from './gateway.js';

async function bootstrap() {
  const env = new EnvReader();
  const config = loadConfig(env);
  config.internalTls = await internalTlsFromEnv(env, config.stateDir, 'gateway', 'gateway');
  const gw = await startGateway(config, { defaultMetrics: true });
  gw.app.enableShutdownHooks();
  const host = config.https.host === '0.0.0.0' ? 'localhost' : config.https.host;
  console.log(
    `gateway: https://${host}:${gw.httpsPort} → scheduler ${config.scheduler.host}:${config.scheduler.port}`,
  );
  console.log(
    `gateway: TLS certificate ${gw.tls.certFile}${gw.tls.generated ? ' (generated, self-signed)' : ''}, SHA-256 ${gw.tls.fingerprint}`,
  );
  if (gw.httpPort) console.log(`gateway: plain HTTP on http://127.0.0.1:${gw.httpPort} (loopback only)`);
  if (gw.admin.file)
    console.log(
      `gateway: admin credentials (user:password) in ${gw.admin.file}${gw.admin.generated ? ' (generated)' : ''}`,
    );
}

bootstrap().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
