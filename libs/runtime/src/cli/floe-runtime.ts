#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { FloeError } from '@floe/contracts';
import { Runtime } from '../runtime.js';
import type { OciConfig } from '../spec/types.js';

const USAGE = `usage: floe-runtime [--root <stateDir>] <command> [args]
  create <id> [-b <bundle>]   create a container that waits for start
  start <id>                  start a created container
  run <id> [-b <bundle>]      create + start, wait, exit with its status
  state <id>                  print the OCI state as JSON
  list                        list containers as JSON
  pause <id> | resume <id>    freeze or thaw
  kill <id> [signal]          signal init (default SIGTERM)
  delete <id>                 kill everything and remove it (idempotent)`;

interface Args {
  root: string;
  cmd: string;
  rest: string[];
  bundle: string;
}

function parse(argv: string[]): Args {
  let root = '/run/floe';
  let bundle = '.';
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root') root = argv[++i] ?? root;
    else if (a === '-b' || a === '--bundle') bundle = argv[++i] ?? bundle;
    else rest.push(a);
  }
  const [cmd = 'help', ...more] = rest;
  return { root, cmd, rest: more, bundle };
}

/** Reads bundle/config.json; a relative root.path is relative to the bundle, as in runc. */
function loadBundle(bundle: string): OciConfig {
  const dir = path.resolve(bundle);
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as OciConfig;
  if (config.root?.path && !path.isAbsolute(config.root.path))
    config.root.path = path.join(dir, config.root.path);
  return config;
}

function need(id: string | undefined): string {
  if (!id) throw new Error(`missing container id\n${USAGE}`);
  return id;
}

export async function main(argv: string[]): Promise<number> {
  const a = parse(argv);
  const rt = new Runtime({ stateDir: a.root });
  const id = a.rest[0];
  switch (a.cmd) {
    case 'create':
      await rt.create(need(id), loadBundle(a.bundle), {
        execFifo: true,
        stdio: { stdin: 0, stdout: 1, stderr: 2 },
      });
      return 0;
    case 'start':
      await rt.start(need(id));
      return 0;
    case 'run': {
      const c = await rt.run(need(id), loadBundle(a.bundle), { stdio: { stdin: 0, stdout: 1, stderr: 2 } });
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
        process.on(sig, () => void c.kill(sig).catch(() => {}));
      const exit = await c.wait();
      await rt.delete(c.id);
      if (exit.reason === 'exited') return exit.code;
      if (exit.reason === 'signaled')
        return (
          128 +
          (typeof exit.signal === 'number'
            ? exit.signal
            : (await import('node:os')).constants.signals[exit.signal])
        );
      console.error(`floe-runtime: ${exit.reason}`);
      return 137;
    }
    case 'state': {
      const s = await rt.load(need(id));
      if (!s) throw new Error(`container ${id} does not exist`);
      console.log(
        JSON.stringify(
          { ociVersion: s.ociVersion, id: s.id, status: s.status, pid: s.pid, bundle: s.bundle ?? s.rootfs },
          null,
          2,
        ),
      );
      return 0;
    }
    case 'list':
      console.log(JSON.stringify(await rt.list(), null, 2));
      return 0;
    case 'pause':
      await rt.pause(need(id));
      return 0;
    case 'resume':
      await rt.resume(need(id));
      return 0;
    case 'kill': {
      const sig = a.rest[1] ?? 'SIGTERM';
      await rt.kill(
        need(id),
        /^\d+$/.test(sig) ? Number(sig) : ((sig.startsWith('SIG') ? sig : `SIG${sig}`) as NodeJS.Signals),
      );
      return 0;
    }
    case 'delete':
      await rt.delete(need(id));
      return 0;
    default:
      console.log(USAGE);
      return a.cmd === 'help' || a.cmd === '--help' ? 0 : 2;
  }
}

/** Runs `main` on this process's arguments and exits with its status (the bin wrapper calls it). */
export function runAsProcess(): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(
        `floe-runtime: ${err instanceof FloeError || err instanceof Error ? err.message : String(err)}`,
      );
      process.exit(1);
    },
  );
}

const entry = process.argv[1] ? fs.realpathSync(process.argv[1]) : '';
if (entry && import.meta.url === `file://${entry}`) runAsProcess();
