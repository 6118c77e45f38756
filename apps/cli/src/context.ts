import { type CliConfig, canonicalUrl, configDir, type GatewayLogin, loadConfig } from './config-store.js';
import { CliError, EXIT } from './errors.js';
import { GatewayClient } from './gateway-client.js';
import { type Output, stdOutput } from './output.js';

/** What every command gets: where to write, and (lazily) the gateway it talks to. */
export interface Context {
  o: Output;
  config: CliConfig;
  configDir: string;
  /** `--gateway`/`FLOE_GATEWAY` if given, else the current login. */
  gatewayUrl?: string;
  client(): GatewayClient;
}

export function makeContext(opts: { json: boolean; gateway?: string }, env = process.env): Context {
  const dir = configDir(env);
  const config = loadConfig(dir);
  const wanted = opts.gateway ?? env.FLOE_GATEWAY;
  const gatewayUrl = wanted ? canonicalUrl(wanted) : config.current;
  let client: GatewayClient | undefined;
  return {
    o: stdOutput(opts.json),
    config,
    configDir: dir,
    gatewayUrl,
    client() {
      if (client) return client;
      if (!gatewayUrl) throw new CliError('not logged in: run `floe login [url]` first', EXIT.usage);
      const login: GatewayLogin | undefined = config.gateways[gatewayUrl];
      if (!login)
        throw new CliError(`not logged in to ${gatewayUrl}: run \`floe login ${gatewayUrl}\``, EXIT.usage);
      client = new GatewayClient(login);
      return client;
    },
  };
}
