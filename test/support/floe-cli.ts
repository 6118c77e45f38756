import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
