import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floe, request, uniqueName, waitFor } from './support/client.js';
import { faasCli, fixtureImage, importImage } from './support/shared-fixtures.js';

// The real OpenFaaS CLI against the platform `npm start` runs, over HTTPS with its self-signed cert.
const cli = faasCli();
const alpine = fixtureImage('functions-alpine');
const missing = !cli
  ? 'faas-cli not found (set FAAS_CLI or provide ../shared/tools/faas-cli)'
  : !alpine
    ? 'functions/alpine fixture not found in ../shared/fixtures/openfaas-images'
    : undefined;
if (missing) console.warn(`skipping the faas-cli e2e spec: ${missing}`);

const IMAGE = 'functions/alpine:latest';
// Always a temp dir: faas-cli would otherwise write its credentials to ~/.openfaas (or ./.openfaas with CI=true).
const config = mkdtempSync(path.join(os.tmpdir(), 'floe-e2e-faas-cli-'));
afterAll(() => rmSync(config, { recursive: true, force: true }));

interface Run {
  code: number | null;
  out: string;
}

/** Runs faas-cli with `-g <gateway> --tls-no-verify`, `input` on stdin. */
function faas(args: string[], input = ''): Promise<Run> {
  const { url } = floe();
  const child = spawn(cli as string, [...args, '-g', url, '--tls-no-verify'], {
    env: { ...process.env, OPENFAAS_CONFIG: config, OPENFAAS_URL: '' },
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function ok(args: string[], input = ''): Promise<string> {
  const r = await faas(args, input);
  expect(r.code, `faas-cli ${args.join(' ')}\n${r.out}`).toBe(0);
  return r.out;
}

describe.skipIf(missing !== undefined)('faas-cli 0.16 drives Floe', () => {
  const envFn = uniqueName('cli-env');
  const secretFn = uniqueName('cli-secret');
  const secret = uniqueName('cli-token');

  beforeAll(async () => {
    await importImage(alpine as string, IMAGE);
  });
  afterAll(async () => {
    // Leave no function or secret behind when a step failed half-way (404 when already removed).
    for (const f of [envFn, secretFn])
      await request('DELETE', '/system/functions', { body: { functionName: f }, auth: true });
    await request('DELETE', '/system/secrets', { body: { name: secret }, auth: true });
  });

  it('logs in with --password-stdin', async () => {
    const out = await ok(['login', '-u', 'admin', '--password-stdin'], floe().password);
    expect(out).toMatch(/credentials saved/i);
    const bad = await faas(['login', '-u', 'admin', '--password-stdin'], 'wrong-password');
    expect(bad.code).not.toBe(0);
  });

  it('deploys an OpenFaaS image with --fprocess, --label and --env, and describes it ready with no call', async () => {
    const out = await ok([
      'deploy',
      '--image',
      IMAGE,
      '--name',
      envFn,
      '--fprocess',
      'env',
      '--label',
      'team=e2e',
      '--env',
      'greeting=hi',
    ]);
    expect(out).toMatch(/Deployed\. 202/);
    const described = await waitFor(
      `${envFn} ready`,
      async () => {
        const d = await ok(['describe', envFn]);
        return /Status:\s+Ready/.test(d) ? d : undefined;
      },
      60_000,
    );
    expect(described).toMatch(new RegExp(`Name:\\s+${envFn}`));
    expect(described).toMatch(/Available Replicas:\s+1/);
    expect(described).toContain(IMAGE);
    expect(described).toContain('team: e2e');
    expect(described).toContain(`faas_function: ${envFn}`);
  });

  it('lists it with list -v', async () => {
    const out = await ok(['list', '-v']);
    const line = out.split('\n').find((l) => l.startsWith(envFn));
    expect(line, out).toBeDefined();
    expect(line).toContain(IMAGE);
  });

  it('invokes it, and invokes it --async', async () => {
    const out = await ok(['invoke', envFn], 'hello');
    expect(out).toContain('greeting=hi');
    expect(out).toContain('Http_Method=POST');
    const queued = await ok(['invoke', envFn, '--async'], 'later');
    expect(queued).toMatch(/202|asynchronous/i);
  });

  it('creates, lists and updates a secret that a function reads from /var/openfaas/secrets, then removes both', async () => {
    await ok(['secret', 'create', secret, '--from-literal', 'first-value']);
    expect(await ok(['secret', 'list'])).toContain(secret);
    // dd reads the file to stdout and reports on stderr, which is the function's log.
    const deployArgs = [
      'deploy',
      '--image',
      IMAGE,
      '--name',
      secretFn,
      '--fprocess',
      `dd if=/var/openfaas/secrets/${secret}`,
      '--secret',
      secret,
    ];
    await ok(deployArgs);
    expect(await ok(['invoke', secretFn])).toContain('first-value');
    await ok(['secret', 'update', secret, '--from-literal', 'second-value']);
    // Instances read secrets when they start: a new version of the function sees the new value.
    await ok(deployArgs);
    expect(await ok(['invoke', secretFn])).toContain('second-value');

    const logs = await waitFor(
      `logs of ${secretFn}`,
      async () => {
        // 0.16's spelling of "don't follow" is --tail=false; --name prints the function's name.
        const out = await ok(['logs', secretFn, '--tail=false', '--name']);
        // Floe's exec watchdog logs the fprocess's stderr; the image's own watchdog logs its forks.
        return /records in|Forking fprocess/.test(out) ? out : undefined;
      },
      30_000,
    );
    expect(logs).toContain(secretFn);

    await ok(['remove', secretFn]);
    await ok(['secret', 'remove', secret]);
    expect(await ok(['secret', 'list'])).not.toContain(secret);
  });

  it('lists namespaces and removes a function', async () => {
    expect(await ok(['namespace', 'list'])).toContain('openfaas-fn');
    await ok(['remove', envFn]);
    expect(await ok(['list'])).not.toContain(envFn);
    const d = await faas(['describe', envFn]);
    expect(d.code).not.toBe(0);
  });
});
