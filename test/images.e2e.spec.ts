import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deploy, floe, request, uniqueName } from './support/client.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'floe-e2e-img-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A `docker save` tar, made by hand: one layer with a static busybox as /bin/sh. */
function dockerSave(
  ref: string,
  config: Record<string, unknown>,
  files: Record<string, string> = {},
): string {
  rmSync(path.join(work, 'rootfs'), { recursive: true, force: true });
  rmSync(path.join(work, 'img'), { recursive: true, force: true });
  const root = path.join(work, 'rootfs');
  mkdirSync(path.join(root, 'bin'), { recursive: true });
  execFileSync('cp', ['/bin/busybox', path.join(root, 'bin/busybox')]);
  for (const applet of ['sh', 'cat', 'echo', 'tr', 'httpd', 'id', 'mkdir'])
    symlinkSync('busybox', path.join(root, 'bin', applet));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text, { mode: 0o755 });
  }
  const img = path.join(work, 'img');
  mkdirSync(img);
  execFileSync('tar', ['-C', root, '-cf', path.join(img, 'layer.tar'), '.']);
  const diffID = `sha256:${createHash('sha256')
    .update(readFileSync(path.join(img, 'layer.tar')))
    .digest('hex')}`;
  const cfg = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config,
    rootfs: { type: 'layers', diff_ids: [diffID] },
  });
  const cfgName = `${createHash('sha256').update(cfg).digest('hex')}.json`;
  writeFileSync(path.join(img, cfgName), cfg);
  writeFileSync(
    path.join(img, 'manifest.json'),
    JSON.stringify([{ Config: cfgName, RepoTags: [ref], Layers: ['layer.tar'] }]),
  );
  const out = path.join(work, 'image.tar');
  execFileSync('tar', ['-C', img, '-cf', out, 'manifest.json', cfgName, 'layer.tar']);
  return out;
}

describe('imported OCI/docker images', () => {
  it('uploads a docker-save tar and runs an image without Entrypoint or Cmd in exec mode around envProcess, with its Env', async () => {
    const ref = `${uniqueName('e2e-img')}:1`;
    const tar = dockerSave(ref, { Env: ['PATH=/bin', 'GREETING=hi'] });
    const up = await request('POST', `/floe/images?ref=${encodeURIComponent(ref)}`, {
      body: readFileSync(tar),
      headers: { 'content-type': 'application/x-tar' },
      auth: true,
    });
    expect(up.status, up.text).toBeLessThan(300);
    const name = uniqueName('img');
    const d = await deploy({
      service: name,
      image: ref,
      envProcess: 'echo "$GREETING:$Http_Method"; tr a-z A-Z',
    });
    expect(d.status, d.text).toBeLessThan(300);
    const r = await request('POST', `/function/${name}`, { body: 'quiet' });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('hi:POST\nQUIET');
  });

  it('runs an image that declares an HTTP port as a long-lived server and proxies calls to it', async () => {
    const ref = `${uniqueName('e2e-http')}:1`;
    const tar = dockerSave(
      ref,
      {
        Entrypoint: ['/bin/httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/www'],
        Labels: { 'com.floe.http-port': '8080' },
      },
      {
        'www/index.html': 'served by httpd\n',
        'www/cgi-bin/echo':
          '#!/bin/sh\necho "Content-Type: text/plain"\necho "X-From: cgi"\necho\necho "$REQUEST_METHOD $QUERY_STRING"\ncat\n',
      },
    );
    const up = await request('POST', `/floe/images?ref=${encodeURIComponent(ref)}`, {
      body: readFileSync(tar),
      headers: { 'content-type': 'application/x-tar' },
      auth: true,
    });
    expect(up.status, up.text).toBeLessThan(300);
    const name = uniqueName('http');
    const d = await deploy({ service: name, image: ref });
    expect(d.status, d.text).toBeLessThan(300);
    const page = await request('GET', `/function/${name}/index.html`);
    if (page.status !== 200)
      console.log((await request('GET', `/system/logs?name=${name}&tail=50`, { auth: true })).text);
    expect(page.status, page.text).toBe(200);
    expect(page.text).toBe('served by httpd\n');
    const cgi = await request('POST', `/function/${name}/cgi-bin/echo?x=1`, { body: 'payload' });
    expect(cgi.status, cgi.text).toBe(200);
    expect(cgi.headers['x-from']).toBe('cgi');
    expect(cgi.text).toBe('POST x=1\npayload');
    // The CGI echoes the body while it still arrives: the proxy must read as it writes.
    const big = randomBytes(4 * 1024 * 1024);
    const echoed = await request('POST', `/function/${name}/cgi-bin/echo`, { body: big });
    expect(echoed.status, echoed.text.slice(0, 200)).toBe(200);
    expect(echoed.body.subarray(echoed.body.length - big.length).equals(big)).toBe(true);
  });

  it("runs an image's Cmd as its User, named in its /etc/passwd, in its WorkingDir, on the port the port env var names", async () => {
    const ref = `${uniqueName('e2e-user')}:1`;
    const tar = dockerSave(
      ref,
      {
        User: 'fn',
        WorkingDir: '/srv',
        Cmd: [
          '/bin/sh',
          '-c',
          'mkdir -p /dev/shm/www && echo "$(id -u):$(id -g):$HOME:$(pwd)" > /dev/shm/www/who && exec httpd -f -p "$port" -h /dev/shm/www',
        ],
      },
      {
        'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nfn:x:1234:4321:fn:/home/fn:/bin/sh\n',
        'srv/.keep': '',
      },
    );
    const up = await request('POST', `/floe/images?ref=${encodeURIComponent(ref)}`, {
      body: readFileSync(tar),
      headers: { 'content-type': 'application/x-tar' },
      auth: true,
    });
    expect(up.status, up.text).toBeLessThan(300);
    const name = uniqueName('user');
    const d = await deploy({ service: name, image: ref, envVars: { port: '9090' } });
    expect(d.status, d.text).toBeLessThan(300);
    const r = await request('GET', `/function/${name}/who`);
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('1234:4321:/home/fn:/srv\n');
  });

  it('fails the call with the exit code when the image server exits before it serves HTTP', async () => {
    const ref = `${uniqueName('e2e-exit')}:1`;
    const tar = dockerSave(ref, { Cmd: ['/bin/sh', '-c', 'echo giving up >&2; exit 3'] });
    const up = await request('POST', `/floe/images?ref=${encodeURIComponent(ref)}`, {
      body: readFileSync(tar),
      headers: { 'content-type': 'application/x-tar' },
      auth: true,
    });
    expect(up.status, up.text).toBeLessThan(300);
    const name = uniqueName('exit');
    const d = await deploy({ service: name, image: ref });
    expect(d.status, d.text).toBeLessThan(300);
    const r = await request('GET', `/function/${name}`);
    expect(r.status, r.text).toBe(502);
    expect(r.json().error.message).toMatch(
      /function server exited with code 3 before it served HTTP on port 8080/,
    );
  });

  it('fails the call naming port 8080 and how to name another when the image server listens elsewhere', async () => {
    const ref = `${uniqueName('e2e-port')}:1`;
    const tar = dockerSave(ref, { Cmd: ['/bin/httpd', '-f', '-p', '8081', '-h', '/'] });
    const up = await request('POST', `/floe/images?ref=${encodeURIComponent(ref)}`, {
      body: readFileSync(tar),
      headers: { 'content-type': 'application/x-tar' },
      auth: true,
    });
    expect(up.status, up.text).toBeLessThan(300);
    const name = uniqueName('port');
    const d = await deploy({ service: name, image: ref });
    expect(d.status, d.text).toBeLessThan(300);
    const r = await request('GET', `/function/${name}`);
    expect(r.status, r.text).toBe(502);
    expect(r.json().error.message).toMatch(
      /did not accept connections on port 8080.*port env var.*com\.floe\.http-port/,
    );
  });

  it("refuses an image whose layer does not match its diffID (400 INVALID_ARGUMENT), leaving no blob, layer or ref in the agent's store", async () => {
    const ref = `${uniqueName('e2e-bad')}:1`;
    const tar = dockerSave(ref, { Cmd: ['cat'] }, { 'etc/motd': 'untampered layer\n' });
    const layer = readFileSync(path.join(work, 'img', 'layer.tar'));
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const claimed = sha(layer);
    // Change a file inside the layer (same length, so both tars stay well-formed): the layer
    // no longer hashes to the diffID its config claims.
    const buf = readFileSync(tar);
    const at = buf.indexOf('untampered layer');
    expect(at).toBeGreaterThan(0);
    buf.write('tampered!! layer', at);
    layer.write('tampered!! layer', layer.indexOf('untampered layer'));
    const actual = sha(layer);
    const store = path.join(floe().stateDir, 'snapshots');
    const contents = () => ({
      layers: readdirSync(path.join(store, 'layers')).sort(),
      blobs: readdirSync(path.join(store, 'blobs/sha256')).sort(),
      tmp: readdirSync(path.join(store, 'tmp')),
      refs: Object.keys(JSON.parse(readFileSync(path.join(store, 'images.json'), 'utf8')).refs).sort(),
    });
    const before = contents();

    // The gateway keeps uploads as opaque archives (it does not unpack layers); the agent
    // verifies every digest when it imports the image for the first instance.
    const up = await request('POST', `/floe/images?ref=${encodeURIComponent(ref)}`, {
      body: buf,
      headers: { 'content-type': 'application/x-tar' },
      auth: true,
    });
    expect(up.status, up.text).toBe(201);
    expect(up.json()).toMatchObject({ ref, bytes: buf.length, sha256: sha(buf) });
    const name = uniqueName('bad');
    const d = await deploy({ service: name, image: ref });
    expect(d.status, d.text).toBe(202);
    for (let i = 0; i < 2; i++) {
      // Twice: a failed import must not leave half an image that the second call would use.
      const r = await request('GET', `/function/${name}`);
      expect(r.status, r.text).toBe(400);
      expect(r.json().error).toEqual({
        code: 'INVALID_ARGUMENT',
        field: 'image',
        fault: 'user',
        message: `image: layer 0 (sha256:${claimed}) diffID: digest mismatch: expected sha256:${claimed}, content is sha256:${actual}`,
      });
    }

    const after = contents();
    expect(after).toEqual(before);
    for (const hex of [claimed, actual]) {
      expect(after.layers).not.toContain(hex);
      expect(after.blobs).not.toContain(hex);
    }
    expect(after.tmp).toEqual([]);
    expect(after.refs.filter((r) => r.includes(ref.split(':')[0]!))).toEqual([]);
  });
});
