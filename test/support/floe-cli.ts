import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { floe, request } from './client.js';

export const FLOE_BIN = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../apps/cli/bin/floe.mjs',
);

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the `floe` CLI as a user would (a child process, its own config dir), with stdin from
 * `input`. The environment is the test's minus anything that would point it at another
 * platform's credentials.
 */
export function floeCli(
  args: string[],
  opts: { configDir: string; input?: string | Buffer; cwd?: string; env?: Record<string, string> },
): Promise<CliRun> {
  const env = { ...process.env, FLOE_CONFIG_DIR: opts.configDir, ...opts.env };
  delete env.FLOE_STATE_DIR;
  delete env.FLOE_GATEWAY;
  delete env.FLOE_PASSWORD;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLOE_BIN, ...args], {
      env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.end(opts.input ?? '');
  });
}

/** The same under a pseudo-terminal (util-linux `script`), so TTY-only output (the progress bar) renders. */
export function floeCliTty(args: string[], opts: { configDir: string; cwd?: string }): CliRun {
  const quoted = [process.execPath, FLOE_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const env = { ...process.env, FLOE_CONFIG_DIR: opts.configDir, TERM: 'xterm' };
  delete env.FLOE_STATE_DIR;
  const r = spawnSync('script', ['-qfec', `${quoted} </dev/null`, '/dev/null'], {
    env,
    cwd: opts.cwd,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A user of the CLI for one `describe`: a fresh config dir logged in to the e2e platform before
 * its tests, folders to deploy under a temp dir, and the functions named in `made` removed
 * (with the temp dir) after them.
 */
export function cliSession(prefix: string) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), prefix));
  const configDir = path.join(tmp, 'config');
  const made: string[] = [];
  const cli = (args: string[], input?: string, cwd?: string) => floeCli(args, { configDir, input, cwd });
  /** Writes `files` (paths may hold dirs) into `<tmp>/<name>`; returns that folder. */
  const folder = (name: string, files: Record<string, string>): string => {
    const dir = path.join(tmp, name);
    mkdirSync(dir, { recursive: true });
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      writeFileSync(path.join(dir, f), text);
    }
    return dir;
  };
  beforeAll(async () => {
    const f = floe();
    const r = await cli(['login', f.url, '-u', f.user, '--password-stdin'], f.password);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    for (const name of made)
      await request('DELETE', '/system/functions', { body: { functionName: name }, auth: true });
    rmSync(tmp, { recursive: true, force: true });
  });
  return { tmp, configDir, made, cli, folder };
}
