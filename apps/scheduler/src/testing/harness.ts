import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  type ClusterTls,
  EnvReader,
  FrameRpcClient,
  parseHostPort,
  rpcClientOptions,
  SchedulerPatterns,
} from '@floe/contracts';
import { NestFactory } from '@nestjs/core';
import { ClientTCP } from '@nestjs/microservices';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { defaultIfEmpty, firstValueFrom, timeout } from 'rxjs';
import { AppModule } from '../app.module.js';
import { loadConfig } from '../config.js';
import { connectRpc } from '../rpc-listener.js';

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

export function uniquePrefix(): string {
  return `floe-test-${randomBytes(4).toString('hex')}`;
}

/** Environment for one scheduler under test (also used for the spawned dist build). */
export async function schedulerEnv(
  redisUrl: string,
  prefix: string,
  stateDir: string,
  extra: Record<string, string> = {},
) {
  return {
    REDIS_URL: redisUrl,
    FLOE_REDIS_PREFIX: prefix,
    FLOE_STATE_DIR: stateDir,
    FLOE_SCHEDULER_ID: `sched-${randomBytes(3).toString('hex')}`,
    FLOE_SCHEDULER_RPC: `127.0.0.1:${await freePort()}`,
    FLOE_SCHEDULER_HTTP: `127.0.0.1:${await freePort()}`,
    FLOE_SCHEDULER_INVOKE: `127.0.0.1:${await freePort()}`,
    FLOE_QUEUE_WAIT_MS: '300',
    FLOE_RECONCILE_MS: '200',
    ...extra,
  } as Record<string, string>;
}

/** The scheduler app booted in this process the way main.ts boots it. */
export async function bootScheduler(
  env: Record<string, string>,
  internalTls?: ClusterTls,
): Promise<{ app: NestFastifyApplication; rpcPort: number }> {
  const config = loadConfig(new EnvReader(env));
  config.internalTls = internalTls;
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config),
    new FastifyAdapter(),
    {
      logger: ['error', 'warn'],
    },
  );
  connectRpc(app, config);
  await app.startAllMicroservices();
  await app.listen(config.http.port, config.http.host);
  return { app, rpcPort: config.rpc.port };
}

/**
 * Runs the built scheduler (`dist/main.js`) as a child process. Its peers here (rpcClient, the
 * fake agents) speak plain TCP, as the in-process boot does, so its internal authentication is
 * off; libs/contracts/src/pki and test/internal-auth.e2e.spec.ts cover authentication.
 */
export function spawnScheduler(env: Record<string, string>): ChildProcess {
  const main = path.resolve(import.meta.dirname, '../../dist/main.js');
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, FLOE_INTERNAL_AUTH: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.resume();
  child.stderr?.on('data', (d) => process.stderr.write(`[scheduler child] ${d}`));
  return child;
}

/**
 * The scheduler's RPC as its peers use it; `invoke` (host:port of FLOE_SCHEDULER_INVOKE) takes
 * `invoke` (only the frame channel serves it: bodies are bytes there) and `async.enqueue`.
 */
export function rpcClient(port: number, tls?: ClusterTls, invoke?: string) {
  const client = new ClientTCP(rpcClientOptions({ host: '127.0.0.1', port }, tls));
  const fast = invoke ? new FrameRpcClient(parseHostPort(invoke), { tls }) : undefined;
  return {
    client,
    call<T>(pattern: string, payload: unknown, ms = 5000): Promise<T> {
      if (fast && (pattern === SchedulerPatterns.invoke || pattern === SchedulerPatterns.enqueue))
        return fast.call<T>(pattern, payload, ms);
      return firstValueFrom(
        client.send<T>(pattern, payload).pipe(timeout(ms), defaultIfEmpty(undefined as T)),
      );
    },
    close: () => {
      fast?.close();
      client.close();
    },
  };
}

export function tempState(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-sched-it-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A redis-server of the test's own (AOF on, in a temp dir) that it may stop and restart. */
export class OwnRedis {
  private proc?: ChildProcess;
  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = spawn(
      'redis-server',
      ['--port', String(this.port), '--dir', this.dir, '--appendonly', 'yes', '--save', ''],
      {
        stdio: 'ignore',
      },
    );
    for (let i = 0; i < 50; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const s = net.connect(this.port, '127.0.0.1', () => {
          s.end();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (up) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`redis-server on port ${this.port} did not start (is redis-server installed?)`);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }
}
