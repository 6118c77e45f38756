#!/usr/bin/env node
// Committed as plain JS so that `npm ci` links `floe-runtime` into node_modules/.bin: npm skips a
// bin whose target does not exist at install time, and dist/ is only built afterwards.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli/floe-runtime.js');
if (!existsSync(cli)) {
  process.stderr.write(
    'floe-runtime: not built yet; run `npm run build` (or `npm start`/`npm test`) first\n',
  );
  process.exit(1);
}
const { runAsProcess } = await import(cli);
runAsProcess();
