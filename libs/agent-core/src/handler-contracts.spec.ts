import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelServer } from './channel-server.js';
import type { ChannelRequest, InstanceChannel } from './instance-channel.js';
import { bootstrapDir } from './native-build.js';

// The handler contracts each runtime accepts (OpenFaaS templates, Lambda, Floe's own) and how a
// handler string names the function, with the bootstraps as plain host processes.
const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-contracts-'));
const server = new ChannelServer(path.join(dir, 'run/agent.sock'));
const children: ChildProcess[] = [];
let seq = 0;

function start(runtime: 'node' | 'python'): Promise<InstanceChannel> {
  const token = `${runtime}-${++seq}`;
  const [cmd, file] =
    runtime === 'node'
      ? [process.execPath, 'node-bootstrap.cjs']
      : ['/usr/bin/python3', 'python-bootstrap.py'];
  const child = spawn(cmd, [path.join(bootstrapDir, file)], {
    env: { PATH: '/usr/bin:/bin', FLOE_AGENT_SOCK: server.socketPath, FLOE_INSTANCE_TOKEN: token },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  children.push(child);
  return server.expect(token, 10_000);
}

/** A runtime process with `files` as its code, the handler `handler` loaded. */
async function fn(
  runtime: 'node' | 'python',
  handler: string,
  files: Record<string, string>,
  env: Record<string, string> = {},
) {
  const code = path.join(dir, `code-${++seq}`);
  mkdirSync(code, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(code, name)), { recursive: true });
    writeFileSync(path.join(code, name), text);
  }
  const ch = await start(runtime);
  await ch.load({ name: 'f', handler, env, codeDir: code });
  return ch;
}

function call(ch: InstanceChannel, req: Partial<ChannelRequest>, body: Buffer | string = '') {
  return ch.invoke(
    { callId: 'c', method: 'POST', path: '/', query: '', headers: {}, ...req },
    Buffer.from(body),
  );
}

beforeAll(() => server.listen());

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

// One function, written to each contract: it reports what it saw of the request.
const NODE_OPENFAAS = `module.exports = async (event, context) =>
  context.status(201).headers({ 'x-seen': event.method }).succeed({
    body: event.body, query: event.query, path: event.path, ct: event.headers['content-type'] });`;
const NODE_LAMBDA = `exports.handler = async (event, context) => ({
  statusCode: 201,
  headers: { 'x-seen': event.httpMethod, 'content-type': 'application/json' },
  body: JSON.stringify({ body: event.body, query: event.queryStringParameters, path: event.path,
    ct: event.headers['content-type'] }) });`;
const PY_OPENFAAS = `import json
def handle(event, context):
    return {"statusCode": 201, "headers": {"x-seen": event.method},
            "body": {"body": json.loads(event.body), "query": dict(event.query), "path": event.path,
                     "ct": event.headers.get("Content-Type")}}
`;
const PY_LAMBDA = `import json
def handle(event, context):
    return {"statusCode": 201, "headers": {"x-seen": event["httpMethod"], "content-type": "application/json"},
            "body": json.dumps({"body": event["body"], "query": event["queryStringParameters"],
                                "path": event["path"], "ct": event["headers"]["content-type"]})}
`;

const REQ: Partial<ChannelRequest> = {
  method: 'PUT',
  path: '/sub/path',
  query: 'a=1&b=two',
  headers: { 'content-type': 'application/json' },
};
const SEEN = {
  body: { n: 1, s: 'x' },
  query: { a: '1', b: 'two' },
  path: '/sub/path',
  ct: 'application/json',
};

describe('the same function in OpenFaaS template style and in Lambda style answers alike', () => {
  for (const [label, runtime, handler, files] of [
    ['node, OpenFaaS node18/node20 template', 'node', 'handler.js', { 'handler.js': NODE_OPENFAAS }],
    ['node, Lambda', 'node', 'index.handler', { 'index.js': NODE_LAMBDA }],
    ['python, OpenFaaS python3-http template', 'python', 'handler.py', { 'handler.py': PY_OPENFAAS }],
    ['python, Lambda', 'python', 'handler.handle', { 'handler.py': PY_LAMBDA }],
  ] as const) {
    it(label, async () => {
      const ch = await fn(runtime, handler, files);
      const res = await call(ch, REQ, JSON.stringify({ n: 1, s: 'x' }));
      expect(res.status, res.body.toString()).toBe(201);
      expect(res.headers['x-seen']).toBe('PUT');
      expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
      expect(JSON.parse(res.body.toString())).toEqual(SEEN);
    });
  }
});

describe('node runtime', () => {
  it('context.fail answers 500 with the error, or the status the handler set', async () => {
    const ch = await fn('node', 'index.js', {
      'index.js': `module.exports = async (e, context) => e.query.s
        ? context.status(Number(e.query.s)).fail('bad input') : context.fail(new Error('nope'));`,
    });
    const plain = await call(ch, {});
    expect(plain.status).toBe(500);
    expect(plain.body.toString()).toBe('Error: nope');
    const set = await call(ch, { query: 's=422' });
    expect(set.status).toBe(422);
    expect(set.body.toString()).toBe('bad input');
  });

  it('context.status alone makes the returned value the body; a thrown error is a 500', async () => {
    const ch = await fn('node', 'index.js', {
      'index.js': `module.exports = async (e, context) => {
        if (e.body === 'throw') throw new Error('boom');
        context.status(404);
        return { statusCode: 200, missing: true };
      };`,
    });
    const res = await call(ch, { headers: { 'content-type': 'text/plain' } }, 'x');
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body.toString())).toEqual({ statusCode: 200, missing: true });
    const thrown = await call(ch, { headers: { 'content-type': 'text/plain' } }, 'throw');
    expect(thrown.status).toBe(500);
    expect(thrown.body.toString()).toBe('boom');
  });

  it('waits for a Lambda-style callback, and for context.succeed called later', async () => {
    const cb = await fn('node', 'index.js', {
      'index.js': `module.exports = (e, context, callback) => {
        setTimeout(() => callback(null, { statusCode: 202, body: 'later' }), 20);
      };`,
    });
    const a = await call(cb, {});
    expect([a.status, a.body.toString()]).toEqual([202, 'later']);
    const later = await fn('node', 'index.js', {
      'index.js': `module.exports = (e, context) =>
        new Promise((resolve) => setTimeout(() => { context.status(203).succeed('ok'); resolve(); }, 20));`,
    });
    const b = await call(later, {});
    expect([b.status, b.body.toString()]).toEqual([203, 'ok']);
  });

  it('hands binary bodies over as bytes, text as a string, and echoes a Buffer byte-identical', async () => {
    const ch = await fn('node', 'index.js', {
      'index.js': `module.exports = async (e) => ({ statusCode: 200,
        headers: { 'x-type': Buffer.isBuffer(e.body) ? 'bytes' : typeof e.body,
                   'x-raw': String(Buffer.isBuffer(e.rawBody) && e.rawBody.length) },
        body: e.body });`,
    });
    const mib = randomBytes(1024 * 1024);
    for (const ct of [
      'application/octet-stream',
      'image/png',
      'application/x-www-form-urlencoded',
      'text/plain',
      'application/json',
      undefined,
    ]) {
      const res = await call(ch, { headers: ct ? { 'content-type': ct } : {} }, mib);
      expect(res.headers['x-type'], String(ct)).toBe('bytes');
      expect(res.headers['x-raw']).toBe(String(mib.length));
      expect(res.body.equals(mib), `${ct}: echoed ${res.body.length} bytes`).toBe(true);
    }
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const res = await call(ch, { headers: ct ? { 'content-type': ct } : {} }, 'héllo');
      expect(res.headers['x-type'], String(ct)).toBe('string');
      expect(res.body.toString()).toBe('héllo');
    }
  });

  it('hands every body over as bytes with RAW_BODY=true, as the OpenFaaS node templates do', async () => {
    const ch = await fn(
      'node',
      'index.js',
      { 'index.js': 'module.exports = async (e) => (Buffer.isBuffer(e.body) ? "bytes" : typeof e.body);' },
      { RAW_BODY: 'true' },
    );
    const res = await call(ch, { headers: { 'content-type': 'application/json' } }, '{"a":1}');
    expect(res.body.toString()).toBe('bytes');
  });

  it('names the function by file (the module export) or, Lambda style, by file and export', async () => {
    const files = {
      'index.js': 'module.exports = async () => "default"',
      'lib/app.js': 'exports.main = async () => "main"; exports.other = async () => "other";',
    };
    for (const [handler, want] of [
      ['index.js', 'default'],
      ['index', 'default'],
      ['lib/app.main', 'main'],
      ['lib/app.other', 'other'],
    ]) {
      const res = await call(await fn('node', handler, files), {});
      expect(res.body.toString(), handler).toBe(want);
    }
    await expect(fn('node', 'lib/app.nothing', files)).rejects.toThrow(/exports no function 'nothing'/);
    await expect(fn('node', 'missing.js', files)).rejects.toThrow(/missing\.js/);
  });
});

describe('python runtime', () => {
  it('event reads as attributes (body as bytes) and as the dict it was', async () => {
    const ch = await fn('python', 'handler.py', {
      'handler.py': `def handle(event, context):
    assert event["body"] == event.body.decode("utf-8")
    assert event["headers"] is event.headers and event.query == event["query"]
    return {"statusCode": 200, "body": event.body + b"|" + event.headers["X-Thing"].encode()
            + b"|" + context.functionName.encode() + b"|" + context["callId"].encode()}
`,
    });
    const res = await call(ch, { headers: { 'x-thing': 'v' } }, 'héllo');
    expect(res.status, res.body.toString()).toBe(200);
    expect(res.body.toString()).toBe('héllo|v|f|c');
  });

  it('echoes a binary body byte-identical, given as event.body or as event["body"]', async () => {
    const bytes = randomBytes(256 * 1024);
    for (const read of ['event.body', 'event["body"]']) {
      const ch = await fn('python', 'handler.py', {
        'handler.py': `def handle(event, context):\n    return {"statusCode": 200, "body": ${read}}\n`,
      });
      const res = await call(ch, { headers: { 'content-type': 'application/octet-stream' } }, bytes);
      expect(res.body.equals(bytes), read).toBe(true);
    }
  });

  it("accepts Flask's (body, status, headers) as python3-http passes it through", async () => {
    const ch = await fn('python', 'handler.py', {
      'handler.py': 'def handle(event, context):\n    return ("made", 201, {"x-a": "1"})\n',
    });
    const res = await call(ch, {});
    expect([res.status, res.headers['x-a'], res.body.toString()]).toEqual([201, '1', 'made']);
  });

  it('names the function by file (its handle), by module, or by module.function', async () => {
    const files = {
      'handler.py': 'def handle(e, c):\n    return "handle"\ndef other(e, c):\n    return "other"\n',
      'function/handler.py': 'def handle(e, c):\n    return "function.handle"\n',
    };
    for (const [handler, want] of [
      ['handler.py', 'handle'],
      ['handler', 'handle'],
      ['handler.handle', 'handle'],
      ['handler.other', 'other'],
      ['handler.py:other', 'other'],
      ['function/handler.py', 'function.handle'],
      ['function.handler', 'function.handle'],
    ]) {
      const res = await call(await fn('python', handler, files), {});
      expect(res.body.toString(), handler).toBe(want);
    }
    await expect(fn('python', 'handler.nothing', files)).rejects.toThrow(/no callable 'nothing'/);
    await expect(fn('python', 'missing.py', files)).rejects.toThrow(/missing\.py: no file/);
  });
});
