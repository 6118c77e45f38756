import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  missingRegistryTools,
  pushImage,
  startRegistry,
  type TestRegistry,
} from '../libs/overlay-snapshots/src/testing/registry.js';
import { startPlatform } from '../scripts/lib/platform.mjs';
import { startRedis } from '../scripts/lib/redis.mjs';
import { uniqueName, waitFor } from './support/client.js';
import { floeCli, floeCliTty } from './support/floe-cli.js';

// A platform of its own (two agents, each with its own state and layer dir) and two real
// registries: the team's (TLS, htpasswd) and the one uploads are pushed into.
const missing = missingRegistryTools();
if (missing) console.warn(`skipping registry e2e: ${missing}`);
const FAAS_CLI = process.env.FAAS_CLI ?? path.resolve(import.meta.dirname, '../../shared/tools/faas-cli');
const noCli = !existsSync(FAAS_CLI);
if (noCli) console.warn(`skipping the faas-cli registry deploy: ${FAAS_CLI} is absent`);

const PASSWORD = 'registry-e2e';
const TEAM = { username: 'team', password: 'team-pull-secret' };
const PLATFORM = { username: 'floe', password: 'platform-push' };
const agent = new https.Agent({ keepAlive: false, rejectUnauthorized: false });
let dir: string;
let redis: Awaited<ReturnType<typeof startRedis>>;
let platform: Awaited<ReturnType<typeof startPlatform>>;
let teamReg: TestRegistry;
let uploadReg: TestRegistry;
/** The `floe` CLI's config dir, logged in to this platform. */
let configDir: string;

/** Each agent's `floe_image_pull_seconds_count` and `floe_image_pull_bytes_total`, summed. */
async function pullMetrics(): Promise<{ pulls: number; bytes: number }> {
  let pulls = 0;
  let bytes = 0;
  for (const a of platform.agents) {
    const text = await (await fetch(`http://127.0.0.1:${a.http}/metrics`)).text();
    for (const m of text.matchAll(/^floe_image_pull_seconds_count\{[^}]*\} (\d+)/gm)) pulls += Number(m[1]);
    for (const m of text.matchAll(/^floe_image_pull_bytes_total (\d+)/gm)) bytes += Number(m[1]);
  }
  return { pulls, bytes };
}

function call(method: string, p: string, body?: string | Buffer | object, auth = false) {
  const data =
    body === undefined || Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
  return new Promise<{ status: number; text: string; json: () => any }>((resolve, reject) => {
    const req = https.request(new URL(p, platform.url), { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** A `docker save` tar of one busybox layer whose entrypoint echoes `tag` and the body. */
function busyboxImage(tag: string): string {
  const work = path.join(dir, `img-${tag}`);
  const root = path.join(work, 'rootfs');
  mkdirSync(path.join(root, 'bin'), { recursive: true });
  execFileSync('cp', ['/bin/busybox', path.join(root, 'bin/busybox')]);
  for (const applet of ['sh', 'cat', 'echo']) symlinkSync('busybox', path.join(root, 'bin', applet));
  // Its own layer: tars of identical trees made in the same second would share one diffID.
  writeFileSync(path.join(root, 'tag'), tag);
  execFileSync('tar', ['-C', root, '-cf', path.join(work, 'layer.tar'), '.']);
  const diffID = `sha256:${createHash('sha256')
    .update(readFileSync(path.join(work, 'layer.tar')))
    .digest('hex')}`;
  const cfg = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    // No Entrypoint/Cmd: Floe's exec watchdog runs the image's own `fprocess` per call.
    config: { Env: ['PATH=/bin', `fprocess=sh -c 'echo "${tag}:$Http_Method"; cat'`] },
    rootfs: { type: 'layers', diff_ids: [diffID] },
  });
  const cfgName = `${createHash('sha256').update(cfg).digest('hex')}.json`;
  writeFileSync(path.join(work, cfgName), cfg);
  writeFileSync(
    path.join(work, 'manifest.json'),
    JSON.stringify([{ Config: cfgName, RepoTags: [`${tag}:1`], Layers: ['layer.tar'] }]),
  );
  const out = path.join(work, 'image.tar');
  execFileSync('tar', ['-C', work, '-cf', out, 'manifest.json', cfgName, 'layer.tar']);
  return out;
}

const dockerConfig = (host: string, c: { username: string; password: string }) =>
  JSON.stringify({
    auths: { [host]: { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') } },
  });

describe.skipIf(!!missing)('images from registries (real docker-registry, two agents)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'floe-e2e-reg-'));
    // Functions' roots are unprivileged host ids: the state dir's parents must be searchable.
    chmodSync(dir, 0o711);
    teamReg = await startRegistry(path.join(dir, 'team-reg'), { tls: true, creds: TEAM });
    uploadReg = await startRegistry(path.join(dir, 'upload-reg'), { tls: true, creds: PLATFORM });
    writeFileSync(path.join(dir, 'ca.pem'), `${teamReg.ca}\n${uploadReg.ca}`);
    writeFileSync(path.join(dir, 'platform-auth.json'), dockerConfig(uploadReg.host, PLATFORM), {
      mode: 0o600,
    });
    await pushImage(teamReg, `docker-archive:${busyboxImage('team')}`, 'team/echo:1');
    await pushImage(teamReg, `docker-archive:${busyboxImage('prewarm')}`, 'team/prewarm:1');
    await pushImage(teamReg, `docker-archive:${busyboxImage('pulled')}`, 'team/pulled:1');
    await pushImage(teamReg, `docker-archive:${busyboxImage('tty')}`, 'team/tty:1');
    redis = await startRedis({ dir: path.join(dir, 'redis') });
    platform = await startPlatform({
      stateDir: path.join(dir, 'floe'),
      redisUrl: redis.url,
      agents: 2,
      quiet: process.env.FLOE_E2E_VERBOSE !== '1',
      env: {
        FLOE_ADMIN_PASSWORD: PASSWORD,
        FLOE_STEMCELLS: '0',
        FLOE_REGISTRY_CA: path.join(dir, 'ca.pem'),
        FLOE_REGISTRY: `${uploadReg.host}/uploads`,
        FLOE_REGISTRY_AUTH: path.join(dir, 'platform-auth.json'),
      },
    });
    for (const a of platform.agents)
      await waitFor(
        `agent ${a.id}`,
        async () =>
          (await fetch(`http://127.0.0.1:${a.http}/healthz`).catch(() => undefined))?.ok ? true : undefined,
        90_000,
      );
    configDir = path.join(dir, 'cli-config');
    const login = await floeCli(['login', platform.url, '-u', 'admin', '--password-stdin'], {
      configDir,
      input: PASSWORD,
    });
    expect(login.code, login.stderr).toBe(0);
    // `floe images pull` tests pull into namespace `pulls`, with the team's credentials.
    const s = await call(
      'POST',
      '/system/secrets',
      { name: 'floe-registry-auth', namespace: 'pulls', value: dockerConfig(teamReg.host, TEAM) },
      true,
    );
    expect(s.status, s.text).toBeLessThan(300);
  }, 240_000);

  afterAll(async () => {
    await platform?.stop();
    redis?.child.kill('SIGTERM');
    await teamReg?.stop();
    await uploadReg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('deploys an image from a registry that needs auth, with credentials given once for the namespace', async () => {
    const s = await call(
      'POST',
      '/system/secrets',
      { name: 'floe-registry-auth', namespace: 'team', value: dockerConfig(teamReg.host, TEAM) },
      true,
    );
    expect(s.status, s.text).toBeLessThan(300);
    const name = uniqueName('reg');
    const image = `${teamReg.host}/team/echo:1`;
    const d = await call('POST', '/system/functions', { service: name, namespace: 'team', image }, true);
    expect(d.status, d.text).toBe(202);
    // The first call waits for the pull; it answers from the pulled image.
    const r = await call('POST', `/function/${name}.team`, 'pulled');
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('team:POST\npulled');
    // Agents report their images with each heartbeat (1 s).
    const row = await waitFor(
      'the pulled image in GET /floe/images',
      async () =>
        (await call('GET', '/floe/images', undefined, true))
          .json()
          .find(
            (i: { refs: string[]; present: string[] }) =>
              i.present.length > 0 && i.refs.some((x) => x.startsWith(`${teamReg.host}/team/echo@sha256:`)),
          ),
      30_000,
    );
    expect(row.size).toBeGreaterThan(0);
  });

  it('a function kept warm (com.openfaas.scale.min) has its image pulled before any call', async () => {
    const name = uniqueName('warm');
    const image = `${teamReg.host}/team/prewarm:1`;
    const d = await call(
      'POST',
      '/system/functions',
      { service: name, namespace: 'team', image, labels: { 'com.openfaas.scale.min': '1' } },
      true,
    );
    expect(d.status, d.text).toBe(202);
    const row = await waitFor(
      'the pre-warmed image in GET /floe/images',
      async () =>
        (await call('GET', '/floe/images', undefined, true))
          .json()
          .find(
            (i: { refs: string[]; present: string[] }) =>
              i.present.length > 0 &&
              i.refs.some((x) => x.startsWith(`${teamReg.host}/team/prewarm@sha256:`)),
          ),
      60_000,
    );
    expect(row.size).toBeGreaterThan(0);
    const r = await call('POST', `/function/${name}.team`, 'warm');
    expect(r.text).toBe('prewarm:POST\nwarm');
  });

  it('wrong or missing credentials and a missing tag are 4xx at deploy naming image, with the registry reason', async () => {
    const image = `${teamReg.host}/team/echo:1`;
    const anon = await call(
      'POST',
      '/system/functions',
      { service: uniqueName('anon'), namespace: 'nocreds', image },
      true,
    );
    expect(anon.status, anon.text).toBe(400);
    expect(anon.json().error).toMatchObject({ field: 'image', fault: 'user' });
    expect(anon.json().error.message).toMatch(/401 UNAUTHORIZED/);
    const tag = await call(
      'POST',
      '/system/functions',
      { service: uniqueName('notag'), namespace: 'team', image: `${teamReg.host}/team/echo:nope` },
      true,
    );
    expect(tag.status, tag.text).toBe(404);
    expect(tag.json().error).toMatchObject({ field: 'image' });
    expect(tag.json().error.message).toMatch(/MANIFEST_UNKNOWN/);
  });

  it('floe images pull: every agent pulls from a registry with auth, with progress; ls lists it; a deploy starts with no further pull', async () => {
    const ns = 'pulls';
    const image = `${teamReg.host}/team/pulled:1`;
    const before = await pullMetrics();
    // Not a TTY: plain progress lines on stderr, the result on stdout.
    const plain = await floeCli(['images', 'pull', image, '-n', ns], { configDir });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/pulling: 100% \(/);
    for (const a of platform.agents) expect(plain.stderr).toContain(`${a.id}: pulled in`);
    expect(plain.stdout).toMatch(new RegExp(`^Pulled ${image} sha256:[a-f0-9]{64} \\(1 layer\\(s\\)`));
    const after = await pullMetrics();
    expect(after.pulls).toBe(before.pulls + platform.agents.length);
    expect(after.bytes).toBeGreaterThan(before.bytes);
    // Again, as JSON: the final object; every agent already has every layer.
    const again = await floeCli(['images', 'pull', image, '-n', ns, '--json'], { configDir });
    expect(again.code, again.stderr).toBe(0);
    const done = JSON.parse(again.stdout);
    expect(done).toMatchObject({ type: 'done', image, layers: 1 });
    expect(done.pinned).toBe(`${teamReg.host}/team/pulled@${done.digest}`);
    expect(done.size).toBeGreaterThan(0);
    expect(done.agents.map((a: { agent: string; ok: boolean }) => [a.agent, a.ok]).sort()).toEqual(
      platform.agents.map((a: { id: string }) => [a.id, true]).sort(),
    );
    // `floe images ls` lists it, by tag and digest, present on both agents.
    const row = await waitFor(
      'the pulled image on every agent in floe images ls',
      async () => {
        const ls = await floeCli(['images', 'ls', '--json'], { configDir });
        const rows = ls.code === 0 ? JSON.parse(ls.stdout) : [];
        return rows.find(
          (r: { refs: string[]; present: string[] }) =>
            r.refs.includes(image) && platform.agents.every((a: { id: string }) => r.present.includes(a.id)),
        );
      },
      30_000,
    );
    expect(row.refs).toContain(done.pinned);
    // A function of that image starts from what is on the agents: no pull, no layer byte.
    const mid = await pullMetrics();
    const name = uniqueName('pulled');
    const d = await call('POST', '/system/functions', { service: name, namespace: ns, image }, true);
    expect(d.status, d.text).toBe(202);
    const r = await call('POST', `/function/${name}.${ns}`, 'no pull');
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('pulled:POST\nno pull');
    expect(await pullMetrics()).toEqual(mid);
  });

  it('floe images pull refuses an unknown tag, a bad reference and refused credentials (exit 3, field image), and an unreachable registry (exit 1, 502)', async () => {
    const tag = await floeCli(['images', 'pull', `${teamReg.host}/team/pulled:nope`, '-n', 'pulls'], {
      configDir,
    });
    expect(tag.code, tag.stderr).toBe(3);
    expect(tag.stderr).toMatch(/404 NOT_FOUND: .*MANIFEST_UNKNOWN.*\(field: image\)/);
    const bad = await floeCli(['images', 'pull', 'Not A Ref'], { configDir });
    expect(bad.code, bad.stderr).toBe(3);
    expect(bad.stderr).toMatch(/400 INVALID_ARGUMENT: .*not an image reference.*\(field: image\)/);
    const anon = await floeCli(['images', 'pull', `${teamReg.host}/team/pulled:1`, '-n', 'nocreds'], {
      configDir,
    });
    expect(anon.code, anon.stderr).toBe(3);
    expect(anon.stderr).toMatch(/400 FAILED_PRECONDITION: .*401 UNAUTHORIZED.*\(field: image\)/);
    const gone = await floeCli(['images', 'pull', `127.0.0.1:${await freePort()}/team/x:1`], { configDir });
    expect(gone.code, gone.stderr).toBe(1);
    expect(gone.stderr).toMatch(/502 UNAVAILABLE: .*image 127.0.0.1:\d+\/team\/x:1: .*\(field: image\)/);
  });

  it('floe images pull draws its progress bar on a terminal, ending it with a newline', () => {
    const image = `${teamReg.host}/team/tty:1`;
    const r = floeCliTty(['images', 'pull', image, '-n', 'pulls'], { configDir });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\r[^\n]*pulling \[#{30}\] 100%[^\n]*\r?\n/);
    expect(r.stdout).toContain(`Pulled ${image} sha256:`);
  });

  it.skipIf(noCli)(
    'faas-cli deploy --image <registry>/<repo>:<tag> ends in a function that answers',
    async () => {
      const env = { ...process.env, OPENFAAS_CONFIG: mkdtempSync(path.join(dir, 'faas-')) };
      const run = (args: string[]) =>
        promisify(execFile)(FAAS_CLI, [...args, '-g', platform.url, '--tls-no-verify'], { env });
      await run(['login', '-u', 'admin', '--password', PASSWORD]);
      const name = uniqueName('cli');
      await run(['deploy', '--image', `${teamReg.host}/team/echo:1`, '--name', name, '--namespace', 'team']);
      const r = await call('POST', `/function/${name}.team`, 'via faas-cli');
      expect(r.status, r.text).toBe(200);
      expect(r.text).toBe('team:POST\nvia faas-cli');
    },
  );

  it('an uploaded image is pushed to FLOE_REGISTRY and served by the second agent from its own layer dir', async () => {
    const ref = `${uniqueName('up')}:1`;
    const up = await call(
      'POST',
      `/floe/images?ref=${encodeURIComponent(ref)}`,
      readFileSync(busyboxImage('upload')),
      true,
    );
    expect(up.status, up.text).toBe(201);
    expect(up.json().pinned).toMatch(new RegExp(`^${uploadReg.host}/uploads/`));
    const name = uniqueName('upfn');
    const d = await call('POST', '/system/functions', { service: name, image: ref }, true);
    expect(d.status, d.text).toBe(202);
    // Only the second agent left: it has its own FLOE_STATE_DIR (so layer dir) and pulls the push.
    const [first, second] = platform.agents;
    first.child.kill('SIGKILL');
    try {
      const r = await waitFor(
        `a call served by ${second.id}`,
        async () => {
          const x = await call('POST', `/function/${name}`, 'second');
          return x.status === 200 ? x : undefined;
        },
        60_000,
      );
      expect(r.text).toBe('upload:POST\nsecond');
      const row = await waitFor(
        `the upload present on ${second.id} in GET /floe/images`,
        async () =>
          (await call('GET', '/floe/images', undefined, true))
            .json()
            .find(
              (i: { refs: string[]; present: string[] }) =>
                i.refs.includes(up.json().pinned) && i.present.includes(second.id),
            ),
        30_000,
      );
      expect(row.size).toBeGreaterThan(0);
    } finally {
      // Its containers outlived it: a restart destroys them.
      const next = first.restart();
      await waitFor(
        `${first.id}, restarted`,
        async () => {
          const h = await fetch(`http://127.0.0.1:${first.http}/healthz`).catch(() => undefined);
          const body = h?.ok ? await h.json() : undefined;
          return body?.pid === next.pid ? body : undefined;
        },
        90_000,
      );
    }
  });
});
