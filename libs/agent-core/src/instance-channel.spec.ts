import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelServer } from './channel-server.js';
import { bootstrapDir, ensureWatchdog } from './native-build.js';

// The bootstraps run here as plain host processes: this pins the wire protocol between the
// agent and each runtime without containers (the pool specs cover containers).
const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-chan-'));
const server = new ChannelServer(path.join(dir, 'run/agent.sock'));
const children: ChildProcess[] = [];

function start(cmd: string, args: string[], token: string, env: Record<string, string> = {}) {
  const child = spawn(cmd, args, {
    env: { PATH: '/usr/bin:/bin', FLOE_AGENT_SOCK: server.socketPath, FLOE_INSTANCE_TOKEN: token, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  return server.expect(token, 10_000);
}

beforeAll(async () => {
  await server.listen();
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(
    path.join(dir, 'code/index.js'),
    `module.exports = async (event, ctx) => ({ statusCode: 201, headers: { 'x-echo': event.headers['x-in'] ?? '' }, body: Buffer.concat([Buffer.from(event.method + ' ' + event.path + ' ' + process.env.GREETING + ' '), event.rawBody]) });`,
  );
  writeFileSync(
    path.join(dir, 'code/handler.py'),
    `import os\ndef handle(event, context):\n    return {"statusCode": 202, "headers": {"x-py": "1"}, "body": event["rawBody"] + os.environ["GREETING"].encode()}\n`,
  );
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const binary = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0]);

describe('invoke channel', () => {
  it('node: loads a handler into a running process and passes binary bodies both ways', async () => {
    const ch = await start(process.execPath, [path.join(bootstrapDir, 'node-bootstrap.cjs')], 'n1');
    await ch.load({
      name: 'echo',
      handler: 'index.js',
      env: { GREETING: 'hi' },
      codeDir: path.join(dir, 'code'),
    });
    const res = await ch.invoke(
      { callId: 'c1', method: 'POST', path: '/x', query: 'a=1', headers: { 'x-in': 'v' } },
      binary,
    );
    expect(res.status).toBe(201);
    expect(res.headers['x-echo']).toBe('v');
    expect(res.body.subarray(res.body.length - binary.length)).toEqual(binary);
    expect(res.body.toString('utf8', 0, 10)).toBe('POST /x hi');
  });

  it('node: a stemcell that warmed up (FLOE_WARM_UP=1) has no function until load, then serves the one loaded', async () => {
    const node = [path.join(bootstrapDir, 'node-bootstrap.cjs')];
    const ch = await start(process.execPath, node, 'n3', { FLOE_WARM_UP: '1' });
    const req = { callId: 'c3', method: 'POST', path: '/w', query: '', headers: {} };
    const before = await ch.invoke(req, Buffer.from('x'));
    expect([before.status, before.body.toString()]).toEqual([500, 'no function loaded']);
    await ch.load({
      name: 'echo',
      handler: 'index.js',
      env: { GREETING: 'hi' },
      codeDir: path.join(dir, 'code'),
    });
    const after = await ch.invoke(req, Buffer.from('x'));
    expect([after.status, after.headers['x-warm'], after.body.toString()]).toEqual([
      201,
      undefined,
      'POST /w hi x',
    ]);
  });

  for (const [transport, env] of [
    ['the pipe handle', {}],
    ['node:net (the fallback)', { FLOE_NODE_TRANSPORT: 'net' }],
  ] as const) {
    it(`node: over ${transport}, loads and passes 1 MiB of bytes both ways`, async () => {
      const node = [path.join(bootstrapDir, 'node-bootstrap.cjs')];
      const ch = await start(process.execPath, node, `n4-${transport}`, env);
      await ch.load({
        name: 'echo',
        handler: 'index.js',
        env: { GREETING: 'hi' },
        codeDir: path.join(dir, 'code'),
      });
      const big = Buffer.alloc(1024 * 1024, 7);
      const res = await ch.invoke({ callId: 'c4', method: 'PUT', path: '/n', query: '', headers: {} }, big);
      expect(res.status).toBe(201);
      expect(res.body.subarray(0, 10).toString()).toBe('PUT /n hi ');
      expect(res.body.subarray(10).equals(big)).toBe(true);
    });
  }

  it('node: a handler that fails to load is a user fault naming the handler', async () => {
    const ch = await start(process.execPath, [path.join(bootstrapDir, 'node-bootstrap.cjs')], 'n2');
    await expect(
      ch.load({ name: 'bad', handler: 'missing.js', env: {}, codeDir: path.join(dir, 'code') }),
    ).rejects.toThrow(/missing\.js/);
  });

  it('python: loads handler.handle and answers', async () => {
    const ch = await start('/usr/bin/python3', [path.join(bootstrapDir, 'python-bootstrap.py')], 'p1');
    await ch.load({
      name: 'py',
      handler: 'handler.handle',
      env: { GREETING: 'yo' },
      codeDir: path.join(dir, 'code'),
    });
    const res = await ch.invoke({ callId: 'c2', method: 'GET', path: '/', query: '', headers: {} }, binary);
    expect(res.status).toBe(202);
    expect(res.body).toEqual(Buffer.concat([binary, Buffer.from('yo')]));
  });

  it('exec: the watchdog runs fprocess per request with Http_* variables and stdin', async () => {
    const ch = await start(ensureWatchdog(), [], 'e1');
    expect(ch.format).toBe('kv');
    await ch.load({
      name: 'ex',
      handler: 'echo "$Http_Method $Http_Path $Http_Query $Http_X_Thing $GREETING"; cat',
      env: { GREETING: 'hey' },
      codeDir: '/',
    });
    const res = await ch.invoke(
      { callId: 'c3', method: 'PUT', path: '/p', query: 'q=1', headers: { 'X-Thing': 'th' } },
      binary,
    );
    expect(res.status).toBe(200);
    expect(res.body.toString('utf8').split('\n')[0]).toBe('PUT /p q=1 th hey');
    expect(res.body.subarray(res.body.length - binary.length)).toEqual(binary);
  });

  it('exec: a failing process gives 500 with its stderr and exit code', async () => {
    const ch = await start(ensureWatchdog(), [], 'e2');
    await ch.load({ name: 'ex', handler: 'echo boom >&2; exit 3', env: {}, codeDir: '/' });
    const res = await ch.invoke(
      { callId: 'c4', method: 'GET', path: '/', query: '', headers: {} },
      Buffer.alloc(0),
    );
    expect(res.status).toBe(500);
    expect(res.body.toString()).toMatch(/boom[\s\S]*exited with code 3/);
  });

  it('pending calls fail fast when the instance dies', async () => {
    const ch = await start(process.execPath, [path.join(bootstrapDir, 'node-bootstrap.cjs')], 'n3');
    writeFileSync(path.join(dir, 'code/hang.js'), 'module.exports = () => new Promise(() => {});');
    await ch.load({ name: 'hang', handler: 'hang.js', env: {}, codeDir: path.join(dir, 'code') });
    const call = ch.invoke(
      { callId: 'c5', method: 'GET', path: '/', query: '', headers: {} },
      Buffer.alloc(0),
    );
    children.at(-1)?.kill('SIGKILL');
    await expect(call).rejects.toThrow(/connection closed/);
  });
});
