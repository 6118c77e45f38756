#!/usr/bin/env node
// The `floe` command. Committed as plain JS so that `npm ci` links it into node_modules/.bin
// (npm skips a bin whose target does not exist yet, and dist/ is built later). A fresh clone
// builds the CLI on first use.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const main = path.join(here, '../dist/main.js');
if (!existsSync(main)) {
  const root = path.join(here, '../../..');
  const tsc = path.join(root, 'node_modules/.bin/tsc');
  const r = spawnSync(tsc, ['-b', path.join(here, '..')], { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) {
    process.stderr.write('floe: building the CLI failed; run `npm run build` in the Floe checkout\n');
    process.exit(1);
  }
}
const { run } = await import(main);
process.exitCode = await run(process.argv.slice(2));
