import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { floe, uniqueName } from './support/client.js';
import { cliSession, floeCli, floeCliTty } from './support/floe-cli.js';

/** Black-box: the `floe` CLI against the e2e platform, as a user with a fresh ~/.config/floe. */
describe('floe CLI', () => {
  const { tmp, configDir, made, cli, folder } = cliSession('floe-cli-e2e-');

  it('login pins the self-signed certificate and keeps credentials in a 0600 file', async () => {
    const f = floe();
    const again = await cli(['login', f.url, '-u', f.user, '-p', f.password, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const out = JSON.parse(again.stdout);
    expect(out.pinned).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(statSync(path.join(configDir, 'config.json')).mode & 0o777).toBe(0o600);
    expect(statSync(configDir).mode & 0o777).toBe(0o700);
    const wrong = await cli(['login', f.url, '-u', f.user, '-p', 'not-the-password']);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/401/);
  });

  it('deploys a node folder, honouring .gitignore and .floeignore, and invokes it from stdin', async () => {
    const name = uniqueName('cli-node');
    made.push(name);
    const dir = folder(name, {
      'package.json': JSON.stringify({ name, main: 'index.js' }),
      'index.js': `const fs = require('fs');
module.exports = async (event) => ({ statusCode: 200, body: 'hi ' + event.body + ' ' + ['notes.txt', 'build/out.txt', 'local.env'].map((f) => fs.existsSync(__dirname + '/' + f)).join(',') });`,
      'notes.txt': 'kept',
      '.gitignore': 'build/\n',
      '.floeignore': 'local.env\n',
      'build/out.txt': 'ignored',
      'local.env': 'SECRET=1',
    });
    const d = await cli([
      'deploy',
      dir,
      '--name',
      name,
      '--env',
      'A=1',
      '--label',
      'team=x',
      '--memory',
      '64Mi',
      '--min',
      '1',
    ]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain(`/function/${name}`);
    expect(d.stdout).toMatch(/version 1/);
    expect(d.stderr).toMatch(/uploading: 100%/);
    const inv = await cli(['invoke', name], 'there');
    expect(inv.code, inv.stderr).toBe(0);
    expect(inv.stdout).toBe('hi there true,false,false');
    expect(inv.stderr).toMatch(/^200 in \d+(\.\d+)? ms, (warm|prewarm|cold) start/m);

    const desc = JSON.parse((await cli(['describe', name, '--json'])).stdout);
    expect(desc.envVars).toEqual({ A: '1' });
    expect(desc.labels.team).toBe('x');
    expect(desc.limits).toEqual({ memory: '64Mi' });

    // A code-only redeploy is a new version; rollback brings the first back.
    writeFileSync(
      path.join(dir, 'index.js'),
      "module.exports = async () => ({ statusCode: 200, body: 'v2' });",
    );
    const d2 = await cli(['deploy', dir, '--name', name, '--json']);
    expect(d2.code, d2.stderr).toBe(0);
    expect(JSON.parse(d2.stdout)).toMatchObject({ name, version: 2 });
    expect((await cli(['invoke', name])).stdout).toBe('v2');
    const versions = JSON.parse((await cli(['versions', name, '--json'])).stdout);
    expect(versions.map((v: { version: number }) => v.version).sort()).toEqual([1, 2]);
    expect((await cli(['rollback', name, '1'])).code).toBe(0);
    expect((await cli(['invoke', name], 'back')).stdout).toMatch(/^hi back/);
  });

  it('deploys a python folder with handler.py and requirements.txt', async () => {
    const name = uniqueName('cli-py');
    made.push(name);
    const dir = folder(name, {
      'requirements.txt': '',
      'handler.py':
        "def handle(event, context):\n    return {'statusCode': 201, 'body': 'py ' + event['body']}\n",
    });
    const d = await cli(['deploy', dir, '--name', name]);
    expect(d.code, d.stderr).toBe(0);
    const inv = await cli(['invoke', name], 'snake');
    expect(inv.stdout).toBe('py snake');
    expect(inv.stderr).toMatch(/^201 /m);
  });

  it('deploys every function of a faas-cli stack.yml', async () => {
    const a = uniqueName('stk-a');
    const b = uniqueName('stk-b');
    made.push(a, b);
    folder('stack', {
      'stack.yml': `version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:8080
functions:
  ${a}:
    lang: node20
    handler: ./a
    image: example/${a}:latest
    environment:
      GREETING: \${GREETING_FROM_ENV:-hello}
    environment_file:
      - env.yml
    labels:
      com.openfaas.scale.min: "1"
    limits:
      memory: 96Mi
  ${b}:
    lang: python3-http
    handler: ./b
    image: example/${b}:latest
`,
      'env.yml': 'environment:\n  FROM_FILE: yes-from-file\n',
      'a/handler.js':
        "module.exports = async () => ({ statusCode: 200, body: process.env.GREETING + ' ' + process.env.FROM_FILE });",
      'a/package.json': JSON.stringify({ name: 'a', main: 'handler.js' }),
      'b/handler.py':
        "def handle(event, context):\n    return {'statusCode': 200, 'body': 'b says ' + event['body']}\n",
    });
    const d = await cli(['deploy', '-f', path.join(tmp, 'stack', 'stack.yml'), '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout).map((r: { name: string }) => r.name)).toEqual([a, b]);
    expect((await cli(['invoke', a])).stdout).toBe('hello yes-from-file');
    expect((await cli(['invoke', b], 'hi')).stdout).toBe('b says hi');
    const desc = JSON.parse((await cli(['describe', a, '--json'])).stdout);
    expect(desc.limits).toEqual({ memory: '96Mi' });
    const ls = JSON.parse((await cli(['ls', '--json'])).stdout);
    expect(ls.map((f: { name: string }) => f.name)).toEqual(expect.arrayContaining([a, b]));
    const table = (await cli(['ls'])).stdout;
    expect(table.split('\n')[0]).toMatch(/^NAME\s+RUNTIME\/IMAGE\s+REPLICAS\s+INVOCATIONS\s+VERSION$/);
  });

  it('prints the gateway error code, message and field, and exits 3 on a 4xx and 1 on a 5xx', async () => {
    const missing = await cli(['invoke', uniqueName('nope')], 'x');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/404/);
    const bad = await cli([
      'deploy',
      folder('bad', { 'index.js': 'module.exports = () => 1', 'package.json': '{}' }),
      '--name',
      'bad-mem',
      '--memory',
      'lots',
      '--json',
    ]);
    expect(bad.code).toBe(3);
    const err = JSON.parse(bad.stdout).error;
    expect(err).toMatchObject({ status: 400, field: 'limits.memory', exitCode: 3 });
    expect(bad.stderr).toMatch(/400 INVALID_ARGUMENT: .*\(field: limits\.memory\)/);
    const name = uniqueName('cli-crash');
    made.push(name);
    await cli([
      'deploy',
      folder(name, {
        'package.json': '{}',
        'index.js': "module.exports = async () => { throw new Error('boom') }",
      }),
      '--name',
      name,
    ]);
    const crash = await cli(['invoke', name]);
    expect(crash.code).toBe(1);
    expect(crash.stderr).toMatch(/^5\d\d /m);
    const usage = await cli(['deploy', '--no-such-flag']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown flag --no-such-flag/);
  });

  it('manages secrets that a function reads, and shows its logs', async () => {
    const secretName = uniqueName('cli-secret');
    expect((await cli(['secret', 'create', secretName], 'top-secret')).code).toBe(0);
    const list = JSON.parse((await cli(['secret', 'ls', '--json'])).stdout);
    expect(list.map((s: { name: string }) => s.name)).toContain(secretName);
    const name = uniqueName('cli-sec-fn');
    made.push(name);
    const dir = folder(name, {
      'package.json': '{}',
      'index.js': `module.exports = async () => { console.log('read-the-secret'); return { statusCode: 200, body: require('fs').readFileSync('/var/openfaas/secrets/${secretName}', 'utf8') }; };`,
    });
    expect((await cli(['deploy', dir, '--name', name, '--secret', secretName])).code).toBe(0);
    expect((await cli(['invoke', name])).stdout).toBe('top-secret');
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('read-the-secret'); i++) {
      logs = (await cli(['logs', name, '--since', '5m'])).stdout;
      if (!logs.includes('read-the-secret')) await new Promise((r) => setTimeout(r, 200));
    }
    expect(logs).toContain('read-the-secret');
    await cli(['rm', name]);
    made.splice(made.indexOf(name), 1);
    expect((await cli(['secret', 'rm', secretName])).code).toBe(0);
  });

  it('draws a progress bar on a terminal and ends it cleanly', async () => {
    const name = uniqueName('cli-tty');
    made.push(name);
    const dir = folder(name, {
      'package.json': '{}',
      'index.js': "module.exports = async () => 'tty'",
      'blob.bin': 'x'.repeat(2 << 20),
    });
    const r = floeCliTty(['deploy', dir, '--name', name], { configDir });
    expect(r.code, r.stdout).toBe(0);
    // The bar redraws with \r on one line, reaches 100%, and a newline ends it before the URL.
    expect(r.stdout).toMatch(/\r[^\n]*uploading \[#{30}\] 100%[^\n]*\r?\n/);
    expect(r.stdout).toContain(`/function/${name}`);
  });

  it('top reads calls and start kinds per function from the metrics', async () => {
    const name = made[0]!;
    const topRun = cli(['top', '--once', '--interval', '1500ms', '--json']);
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 5; i++) await cli(['invoke', name], 'x');
    const r = await topRun;
    expect(r.code, r.stderr).toBe(0);
    const row = JSON.parse(r.stdout).find((x: { name: string }) => x.name.startsWith(name));
    expect(row.rps).toBeGreaterThan(0);
    expect(row.warm + row.prewarm + row.cold).toBeGreaterThan(0);
  });

  it('prints completion scripts', async () => {
    const bash = await cli(['completion', 'bash']);
    expect(bash.stdout).toContain('complete -F _floe floe');
    execFileSync('bash', ['-n'], { input: bash.stdout });
    expect((await cli(['completion', 'zsh'])).stdout).toContain('#compdef floe');
  });
});

/** Trust on first use: a gateway whose certificate changes after login is refused. */
describe('floe login certificate pinning', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'floe-cli-tofu-'));
  const configDir = path.join(tmp, 'config');
  const servers: https.Server[] = [];

  function cert(cn: string): { key: string; cert: string } {
    const key = path.join(tmp, `${cn}.key`);
    const crt = path.join(tmp, `${cn}.crt`);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        crt,
        '-days',
        '1',
        '-subj',
        `/CN=${cn}`,
        '-addext',
        'subjectAltName=DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    return {
      key: execFileSync('cat', [key], { encoding: 'utf8' }),
      cert: execFileSync('cat', [crt], { encoding: 'utf8' }),
    };
  }

  /** A stand-in gateway that accepts any Basic auth and lists no functions. */
  async function gateway(tls: { key: string; cert: string }, port = 0): Promise<number> {
    const s = https.createServer(tls, (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(req.url?.startsWith('/system/functions') ? '[]' : '{}');
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
    return (s.address() as AddressInfo).port;
  }

  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
    rmSync(tmp, { recursive: true, force: true });
  });

  it('pins on first use and refuses a changed certificate with both fingerprints', async () => {
    const port = await gateway(cert('first'));
    const url = `https://localhost:${port}`;
    const login = await floeCli(['login', url, '-u', 'u', '-p', 'p'], { configDir });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toMatch(/SHA-256 fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    expect((await floeCli(['ls', '--json'], { configDir })).stdout.trim()).toBe('[]');

    // Same address, another certificate: as if someone else now answers there.
    const first = servers.pop()!;
    first.closeAllConnections();
    await new Promise((r) => first.close(r));
    await gateway(cert('impostor'), port);
    const ls = await floeCli(['ls'], { configDir });
    expect(ls.code).toBe(4);
    expect(ls.stderr).toMatch(/certificate of https:\/\/localhost:\d+ changed since login/);
    expect(ls.stderr).toMatch(/pinned: +SHA256 ([0-9A-F]{2}:){31}/);
    const relogin = await floeCli(['login', url, '-u', 'u', '-p', 'p'], { configDir });
    expect(relogin.code).toBe(4);
    const accepted = await floeCli(['login', url, '-u', 'u', '-p', 'p', '--trust-new-cert'], { configDir });
    expect(accepted.code, accepted.stderr).toBe(0);
    expect((await floeCli(['ls', '--json'], { configDir })).code).toBe(0);
  });
});
