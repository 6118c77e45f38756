import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { npmReachable } from '../libs/agent-core/src/testing/npm-registry.js';
import { floe, request, uniqueName } from './support/client.js';
import { cliSession } from './support/floe-cli.js';

const online = await npmReachable();
if (!online) console.warn('[e2e] SKIP node dependencies: registry.npmjs.org is unreachable from this host');
const hasPip = existsSync('/usr/lib/python3/dist-packages/pip/__main__.py');
if (!hasPip)
  console.warn('[e2e] SKIP python dependencies: no Debian pip on this host (apt-get install python3-pip)');
const pipIndex = floe().pipIndex;
if (!pipIndex)
  console.warn('[e2e] SKIP python dependencies: global setup could not serve the local pip index');

const pkg = (name: string) => ({
  name,
  version: '1.0.0',
  main: 'index.js',
  dependencies: { 'is-number': '7.0.0' },
});
const lock = (name: string) => ({
  name,
  version: '1.0.0',
  lockfileVersion: 3,
  requires: true,
  packages: {
    '': { name, version: '1.0.0', dependencies: { 'is-number': '7.0.0' } },
    'node_modules/is-number': {
      version: '7.0.0',
      resolved: 'https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz',
      integrity:
        'sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==',
      engines: { node: '>=0.12.0' },
    },
  },
});

/** Black-box: `floe deploy` of folders whose dependencies the platform installs. */
describe('dependencies as a cached layer', () => {
  const { made, cli, folder } = cliSession('floe-deps-e2e-');

  it.skipIf(!online)(
    'installs a package-lock.json with npm ci on the first deploy, streams the install, and reuses the layer on a code-only redeploy',
    async () => {
      const name = uniqueName('deps-node');
      made.push(name);
      const dir = folder(name, {
        'package.json': JSON.stringify(pkg(name)),
        'package-lock.json': JSON.stringify(lock(name)),
        'index.js': `const isNumber = require('is-number');
module.exports = async (e) => ({ statusCode: 200, body: 'v1 ' + isNumber(e.body) });`,
      });
      const first = await cli(['deploy', dir]);
      expect(first.code, first.stderr).toBe(0);
      // The installer's own lines, printed before the deploy's verdict.
      const added = first.stderr.indexOf(`${name}: | added 1 package`);
      expect(added, first.stderr).toBeGreaterThan(-1);
      expect(first.stderr.indexOf(`${name}: dependencies: installed`)).toBeGreaterThan(added);
      expect((await cli(['invoke', name], '42')).stdout).toBe('v1 true');

      writeFileSync(
        path.join(dir, 'index.js'),
        `const isNumber = require('is-number');
module.exports = async (e) => ({ statusCode: 200, body: 'v2 ' + isNumber(e.body) });`,
      );
      const again = await cli(['deploy', dir, '--json']);
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ name, version: 2, dependencies: 'cached' });
      const text = await cli(['deploy', dir]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stderr).toContain(`${name}: dependencies: cached`);
      expect(text.stderr).not.toMatch(/added \d+ package|npm http fetch/);
      expect((await cli(['invoke', name], 'abc')).stdout).toBe('v2 false');
    },
    240_000,
  );

  it.skipIf(!hasPip || !pipIndex)(
    'pip-installs requirements.txt from the index the agents are pointed at (FLOE_PIP_INDEX_URL)',
    async () => {
      const name = uniqueName('deps-py');
      made.push(name);
      const dir = folder(name, {
        'requirements.txt': 'floe-hello==1.0\n',
        'handler.py':
          "import floe_hello\n\ndef handle(event, context):\n    return {'statusCode': 200, 'body': floe_hello.GREETING}\n",
      });
      const d = await cli(['deploy', dir, '--name', name]);
      expect(d.code, d.stderr).toBe(0);
      expect(d.stderr).toMatch(/\| Successfully installed floe.hello-1\.0/i);
      expect(d.stderr).toContain(`${name}: dependencies: installed`);
      expect((await cli(['invoke', name])).stdout).toBe('hello from a wheel');
    },
    240_000,
  );

  it.skipIf(!hasPip || !pipIndex)(
    "fails the deploy with 422 and the installer's last lines when the install fails, and stores no function",
    async () => {
      const name = uniqueName('deps-bad');
      const dir = folder(name, {
        'requirements.txt': 'floe-not-there==9.9\n',
        'handler.py': "def handle(event, context):\n    return {'statusCode': 200, 'body': 'never'}\n",
      });
      const d = await cli(['deploy', dir, '--name', name]);
      expect(d.code).toBe(3);
      expect(d.stderr).toMatch(/422 BUILD_FAILED: dependencies: pip install failed \(exit 1\)/);
      expect(d.stderr).toMatch(/No matching distribution found for floe-not-there==9\.9/);
      expect(d.stderr).toMatch(/\(field: dependencies\)/);
      expect((await request('GET', `/system/function/${name}`, { auth: true })).status).toBe(404);
    },
    240_000,
  );
});
