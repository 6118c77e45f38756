import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeArchive, deploy, floe, request, uniqueName } from './support/client.js';

// Issue #16's attack, as a local non-root user on a host running the platform: every
// internal port and Redis, with what the attacker sent (a Nest TCP `secret.values`, a frame
// invoke, Redis commands without AUTH). The same probe, run with a client certificate of the
// cluster CA, is the control: those messages do get answers from a peer that authenticates.
const run = promisify(execFile);
const NOBODY = 65534;
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const skipReason =
  process.getuid?.() !== 0
    ? 'not root: cannot switch to nobody'
    : !setpriv
      ? 'setpriv (util-linux) not installed'
      : undefined;
if (skipReason) console.warn(`internal-auth e2e skipped: ${skipReason}`);

const NAMESPACE = 'openfaas-fn';
const secretName = uniqueName('probe-secret');
const secretValue = `s3cret-${randomBytes(8).toString('hex')}`;
let probeDir: string;
let probe: string;

interface Report {
  uid: number;
  ports: { name: string; mode: string; closed: boolean; bytes: number; text: string; error?: string }[];
  redis?: string;
  files: Record<string, string>;
}

function targets() {
  const { internal } = floe();
  const invokeRequest = {
    callId: 'probe',
    function: 'nope',
    namespace: NAMESPACE,
    method: 'GET',
    path: '/',
    query: '',
    headers: {},
    body: '',
  };
  return {
    ports: [
      {
        name: 'scheduler-rpc',
        port: internal.scheduler.rpc,
        kind: 'nest',
        pattern: 'secret.values',
        data: { namespace: NAMESPACE, names: [secretName] },
      },
      {
        name: 'scheduler-invoke',
        port: internal.scheduler.invoke,
        kind: 'frame',
        pattern: 'invoke',
        data: invokeRequest,
      },
      ...internal.agents.flatMap((a) => [
        { name: 'agent-rpc', port: a.rpc, kind: 'nest', pattern: 'agent.status', data: {} },
        {
          name: 'agent-invoke',
          port: a.invoke,
          kind: 'frame',
          pattern: 'agent.invoke',
          data: { request: invokeRequest, ref: 'probe' },
        },
      ]),
    ],
    redis: internal.redisPort,
    files: [
      internal.redisPasswordFile,
      path.join(internal.caDir, 'key.pem'),
      path.join(internal.clientCertDir, 'key.pem'),
      // Each service's environment holds REDIS_URL, password included.
      `/proc/${internal.scheduler.pid}/environ`,
      // The agents' invoke fast path on a unix socket: not even connectable.
      ...internal.agents.map((a) => a.invokeSocket),
    ],
  };
}

async function runProbe(asNobody: boolean): Promise<Report> {
  const { internal } = floe();
  const args = [probe, JSON.stringify(targets())];
  const cmd = asNobody
    ? [
        setpriv as string,
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        process.execPath,
        ...args,
      ]
    : [process.execPath, ...args, internal.clientCertDir, internal.caDir];
  const { stdout } = await run(cmd[0] as string, cmd.slice(1), { timeout: 90_000 });
  return JSON.parse(stdout);
}

/** floe_rpc_unauthenticated_total per listener, summed over the services' /metrics. */
async function refusals(): Promise<Record<string, number>> {
  const { internal } = floe();
  const out: Record<string, number> = {};
  for (const port of [internal.scheduler.http, ...internal.agents.map((a) => a.http)]) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const m of text.matchAll(/^floe_rpc_unauthenticated_total\{listener="([^"]+)"\} (\d+)/gm))
      out[m[1] as string] = (out[m[1] as string] ?? 0) + Number(m[2]);
  }
  return out;
}

describe('the agent socket instances say hello on', () => {
  it("takes a random secret per instance, not the instance's guessable id", async () => {
    // Every container can reach that socket; with the id as its password, one could claim
    // another instance that is starting and be handed its calls.
    const tokens: { token: string; instance: string }[] = [];
    for (const name of [uniqueName('hello-a'), uniqueName('hello-b')]) {
      const res = await deploy({
        service: name,
        runtime: 'node',
        handler: 'index.js',
        code: codeArchive({
          'index.js':
            'module.exports = async (e, ctx) => ({ token: process.env.FLOE_INSTANCE_TOKEN || "", instance: process.env.FLOE_INSTANCE_ID || "" });',
        }),
      });
      expect(res.status, res.text).toBeLessThan(300);
      const r = await request('GET', `/function/${name}`);
      expect(r.status, r.text).toBe(200);
      tokens.push(r.json());
    }
    for (const t of tokens) {
      expect(t.token).toMatch(/^[0-9a-f]{32}$/);
      expect(t.instance).not.toBe('');
      expect(t.token).not.toContain(t.instance);
    }
    expect(tokens[0]?.token).not.toBe(tokens[1]?.token);
  });
});

describe.skipIf(skipReason)('internal ports and Redis, as a local user', () => {
  beforeAll(async () => {
    const put = await request('POST', '/system/secrets', {
      body: { name: secretName, value: secretValue },
      auth: true,
    });
    expect(put.status).toBe(201);
    // nobody can't read the repo's checkout in every setup: run a copy from a dir it can.
    probeDir = mkdtempSync(path.join(os.tmpdir(), 'floe-e2e-probe-'));
    chmodSync(probeDir, 0o755);
    probe = path.join(probeDir, 'attacker-probe.mjs');
    copyFileSync(path.join(import.meta.dirname, 'support', 'attacker-probe.mjs'), probe);
    chmodSync(probe, 0o644);
  });
  afterAll(async () => {
    if (probeDir) rmSync(probeDir, { recursive: true, force: true });
    await request('DELETE', '/system/secrets', { body: { name: secretName }, auth: true });
  });

  it('control: a peer with a cluster certificate gets answers to the same messages', async () => {
    const report = await runProbe(false);
    const by = (name: string) => report.ports.filter((p) => p.name === name);
    expect(by('scheduler-rpc')[0]?.text).toContain(secretValue);
    expect(by('scheduler-invoke')[0]?.text).toContain('NOT_FOUND');
    for (const p of by('agent-rpc')) expect(p.text).toContain('"response"');
    for (const p of by('agent-invoke')) expect(p.text).toContain('versionUnknown');
  });

  it('as nobody: every internal port closes the connection unanswered and counts it, Redis says NOAUTH, keys are unreadable', async () => {
    const before = await refusals();
    const report = await runProbe(true);
    expect(report.uid).toBe(NOBODY);
    const { internal } = floe();
    expect(report.ports).toHaveLength(2 * (2 + 2 * internal.agents.length)); // plain TCP and TLS without a certificate
    for (const p of report.ports) {
      expect({ port: p.name, mode: p.mode, closed: p.closed }).toEqual({
        port: p.name,
        mode: p.mode,
        closed: true,
      });
      expect(p.text).not.toContain(secretValue);
      expect(p.text).not.toContain('probe-1'); // a Nest reply echoes the message id
      expect(p.text).not.toMatch(/"i":1|NOT_FOUND|versionUnknown|"response"/); // a frame reply, any answer
    }
    expect(report.redis?.match(/-NOAUTH/g)).toHaveLength(3);
    expect(report.redis).not.toContain('secrets');
    for (const [file, outcome] of Object.entries(report.files))
      expect({ file, outcome }).toEqual({ file, outcome: 'EACCES' });
    // Those EACCES include the agents' unix sockets, which are there (and 0600).
    for (const a of internal.agents) expect(statSync(a.invokeSocket).mode & 0o777).toBe(0o600);

    const { stdout } = await run(
      setpriv as string,
      [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        'redis-cli',
        '-p',
        String(internal.redisPort),
        'keys',
        '*',
      ],
      { timeout: 30_000 },
    ).catch((e) => ({ stdout: `${e.stdout}${e.stderr}` }));
    expect(stdout).toContain('NOAUTH');

    // Each listener counted its two refusals (per agent for the agents' listeners).
    await expect
      .poll(
        async () => {
          const after = await refusals();
          return Object.fromEntries(
            ['scheduler-rpc', 'scheduler-invoke', 'agent-rpc', 'agent-invoke'].map((l) => [
              l,
              (after[l] ?? 0) - (before[l] ?? 0),
            ]),
          );
        },
        { timeout: 20_000 },
      )
      .toEqual({
        'scheduler-rpc': 2,
        'scheduler-invoke': 2,
        'agent-rpc': 2 * internal.agents.length,
        'agent-invoke': 2 * internal.agents.length,
      });
  });
});
