import * as completionCmd from './commands/completion.js';
import * as deployCmd from './commands/deploy.js';
import * as fns from './commands/functions.js';
import * as imagesCmd from './commands/images.js';
import * as invokeCmd from './commands/invoke.js';
import * as loginCmd from './commands/login.js';
import * as logsCmd from './commands/logs.js';
import * as secretCmd from './commands/secret.js';
import * as topCmd from './commands/top.js';
import { type Context, makeContext } from './context.js';
import { CliError, EXIT } from './errors.js';

type Command = (ctx: Context, args: string[]) => Promise<number>;

const COMMANDS: Record<string, { run: Command; usage: string }> = {
  login: { run: loginCmd.login, usage: loginCmd.usage },
  deploy: { run: deployCmd.deploy, usage: deployCmd.usage },
  invoke: { run: invokeCmd.invoke, usage: invokeCmd.usage },
  logs: { run: logsCmd.logs, usage: logsCmd.usage },
  ls: { run: fns.ls, usage: fns.usage.ls },
  describe: { run: fns.describe, usage: fns.usage.describe },
  rm: { run: fns.rm, usage: fns.usage.rm },
  versions: { run: fns.versions, usage: fns.usage.versions },
  rollback: { run: fns.rollback, usage: fns.usage.rollback },
  secret: { run: secretCmd.secret, usage: secretCmd.usage },
  images: { run: imagesCmd.images, usage: imagesCmd.usage },
  top: { run: topCmd.top, usage: topCmd.usage },
  completion: { run: completionCmd.completion, usage: 'floe completion bash|zsh' },
};
const ALIASES: Record<string, string> = {
  list: 'ls',
  remove: 'rm',
  delete: 'rm',
  up: 'deploy',
  secrets: 'secret',
};

const HELP = `floe: deploy and run functions on a Floe platform

  floe login [url]              trust and remember a gateway (certificate pinned on first use)
  floe deploy [dir]             folder → function URL (node: package.json, python: requirements.txt/handler.py)
  floe deploy -f stack.yml      every function of a faas-cli stack file
  floe invoke NAME < body       call it; status and timing on stderr
  floe logs NAME [-f]           its log lines
  floe ls | describe NAME | rm NAME | versions NAME | rollback NAME VERSION
  floe secret create|update|ls|rm
  floe images ls|import FILE|pull REF
  floe top                      calls/s, p50/p99 and start kinds per function
  floe completion bash|zsh

Global flags: --json (machine output), -g/--gateway URL (else FLOE_GATEWAY, else the last login).
Exit codes: 0 ok, 1 failure (5xx, network), 2 usage, 3 rejected by the gateway (4xx), 4 certificate not trusted or changed.
'floe help COMMAND' shows a command's flags.
`;

/** Global flags may stand anywhere; everything else belongs to the command. */
function globals(argv: string[]): { json: boolean; gateway?: string; rest: string[] } {
  const rest: string[] = [];
  let json = false;
  let gateway: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--json') json = true;
    else if (a === '-g' || a === '--gateway') gateway = argv[++i];
    else if (a.startsWith('--gateway=')) gateway = a.slice('--gateway='.length);
    else rest.push(a);
  }
  return { json, gateway, rest };
}

export async function run(argv: string[]): Promise<number> {
  const { json, gateway, rest } = globals(argv);
  const [name, ...args] = rest;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const cmd = args[0] && COMMANDS[ALIASES[args[0]] ?? args[0]];
    process.stdout.write(cmd ? `${cmd.usage}\n` : HELP);
    return EXIT.ok;
  }
  const cmd = COMMANDS[ALIASES[name] ?? name];
  if (!cmd) {
    process.stderr.write(`floe: unknown command '${name}'\n\n${HELP}`);
    return EXIT.usage;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${cmd.usage}\n`);
    return EXIT.ok;
  }
  try {
    return await cmd.run(makeContext({ json, gateway }), args);
  } catch (err) {
    const e = err instanceof CliError ? err : new CliError((err as Error).message ?? String(err));
    if (json)
      process.stdout.write(
        `${JSON.stringify({ error: { message: e.message, exitCode: e.exitCode, ...e.details } })}\n`,
      );
    process.stderr.write(`floe: ${e.message}\n`);
    return e.exitCode;
  }
}
