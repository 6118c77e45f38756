'use strict';
// Floe's node runtime: started as a stemcell with no function code, it connects to the agent,
// waits frozen, and on `load` requires the handler from /code without restarting node.
// Wire format: see libs/contracts/src/rpc/frame-codec.ts (JSON headers). This file is bind-mounted
// into containers as plain CommonJS and cannot load that module, so it frames and decodes on its
// own; its only peer is the agent, which bounds bodies, so it may allocate a frame's full size.
const path = require('node:path');

const SOCK = process.env.FLOE_AGENT_SOCK || '/run/floe/agent.sock';
const TOKEN = process.env.FLOE_INSTANCE_TOKEN || '';
let handler = null;
let fnName = '';

const EMPTY = Buffer.alloc(0);
// Not `performance.now()`: Node loads perf_hooks on its first use, ~0.7 ms on a cold start's
// first call.
const now = () => Number(process.hrtime.bigint()) / 1e6;

function frame(header, body) {
  // One allocation: the JSON is written straight into the frame.
  const json = JSON.stringify(header);
  const hl = Buffer.byteLength(json);
  const b = body || EMPTY;
  const out = Buffer.allocUnsafe(8 + hl + b.length);
  out.writeUInt32BE(hl, 0);
  out.writeUInt32BE(b.length, 4);
  out.write(json, 8, 'utf8');
  if (b.length) b.copy(out, 8 + hl);
  return out;
}

function parseQuery(q) {
  const out = {};
  if (!q) return out;
  for (const [k, v] of new URLSearchParams(q)) out[k] = v;
  return out;
}

const isUtf8 = require('node:buffer').isUtf8 || ((b) => Buffer.from(b.toString('utf8')).equals(b));
// A body is a string when its type is text (JSON parsed, as the OpenFaaS node templates'
// body-parser does), a form (what `curl -d` sends) or absent, and only if it is valid UTF-8:
// bytes are never turned into replacement characters. Any other type gets the bytes.
const TEXT_TYPE = /^$|^text\/|json|xml|javascript|yaml|graphql|^application\/x-www-form-urlencoded/i;

function decodeBody(body, ct) {
  // The OpenFaaS node templates' switch for bytes whatever the type.
  if (process.env.RAW_BODY === 'true') return body;
  if (!TEXT_TYPE.test(ct)) return body;
  if (!body.length) return '';
  if (!isUtf8(body)) return body;
  const text = body.toString('utf8');
  if (!/json/i.test(ct)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function hasContentType(headers) {
  for (const k in headers) if (k.toLowerCase() === 'content-type') return true;
  return false;
}

function toBytes(body, base64) {
  if (body === undefined || body === null) return EMPTY;
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return base64 ? Buffer.from(body, 'base64') : Buffer.from(body);
  return undefined;
}

// Lambda's (and Floe's own) contract: the handler's value is the response, or describes it.
function toResponse(result) {
  if (result === undefined || result === null) return { status: 204, headers: {}, body: EMPTY };
  if (typeof result === 'string' || Buffer.isBuffer(result) || result instanceof Uint8Array) {
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: toBytes(result) };
  }
  if (typeof result === 'object' && ('statusCode' in result || 'body' in result)) {
    const headers = Object.assign({}, result.headers || {});
    let body = toBytes(result.body, result.isBase64Encoded);
    if (!body) {
      body = Buffer.from(JSON.stringify(result.body));
      if (!hasContentType(headers)) headers['content-type'] = 'application/json';
    }
    return { status: Number(result.statusCode || 200), headers, body };
  }
  return {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify(result)),
  };
}

// The OpenFaaS node template's contract: status and headers come from the context, the value
// (given to succeed, or returned) is the body; objects and arrays go as JSON.
function openfaasResponse(ctx, value) {
  const headers = Object.assign({}, ctx.headerValues);
  let body = toBytes(value);
  if (!body) {
    body = Buffer.from(typeof value === 'object' ? JSON.stringify(value) : String(value));
    if (typeof value === 'object' && !hasContentType(headers)) headers['content-type'] = 'application/json';
  }
  return { status: Number(ctx.statusCode) || 200, headers, body };
}

/**
 * The handler's second argument: Floe's fields (callId, functionName, deadline, log) plus the
 * OpenFaaS node template's chainable status(n), headers(h), succeed(v) and fail(e).
 */
class FunctionContext {
  constructor(h, settle) {
    this.callId = h.callId;
    this.functionName = fnName;
    this.deadline = h.deadline;
    this.log = console.log;
    this.statusCode = 200;
    this.headerValues = {};
    this.cbCalled = 0;
    this.openfaas = false;
    this.settle = settle;
  }
  // Lambda's names for the same facts.
  get awsRequestId() {
    return this.callId;
  }
  getRemainingTimeInMillis() {
    return this.deadline ? Math.max(0, this.deadline - Date.now()) : Number.MAX_SAFE_INTEGER;
  }
  status(code) {
    if (!code) return this.statusCode;
    this.statusCode = code;
    this.openfaas = true;
    return this;
  }
  headers(value) {
    if (!value) return this.headerValues;
    this.headerValues = value;
    this.openfaas = true;
    return this;
  }
  succeed(value) {
    this.openfaas = true;
    this.cbCalled++;
    this.settle({ value });
    return this;
  }
  fail(err) {
    if (Number(this.statusCode) === 200) this.statusCode = 500;
    this.openfaas = true;
    this.cbCalled++;
    this.settle({ failed: err });
    return this;
  }
}

function failure(err) {
  return {
    status: 500,
    headers: { 'content-type': 'text/plain' },
    body: Buffer.from(String(err?.message || err)),
  };
}

// Runs the handler under both contracts: the value it returns (or resolves), or what it gives
// context.succeed/fail or a Lambda-style callback, whichever comes first. A handler that takes
// a callback and returns nothing is waited for until it calls back.
async function run(event, h) {
  let settle;
  const settled = new Promise((resolve) => {
    settle = resolve;
  });
  let outcome;
  const ctx = new FunctionContext(h, (o) => {
    outcome ??= o;
    settle();
  });
  const callback = (err, value) => {
    ctx.cbCalled++;
    if (err) {
      if (Number(ctx.statusCode) === 200) ctx.statusCode = 500;
      outcome ??= { failed: err };
    } else outcome ??= { value };
    settle();
  };
  const ret = handler(event, ctx, callback);
  if (!outcome) {
    if (ret && typeof ret.then === 'function') {
      const value = await Promise.race([ret, settled]);
      outcome ??= { value };
    } else if (ret === undefined && handler.length >= 3) {
      await settled;
    } else outcome = { value: ret };
  }
  if (outcome.failed !== undefined) {
    const err = outcome.failed;
    console.error(err);
    return {
      status: Number(ctx.statusCode) || 500,
      headers: Object.assign({ 'content-type': 'text/plain' }, ctx.headerValues),
      body: toBytes(err) || Buffer.from(String(err?.toString ? err.toString() : err)),
    };
  }
  return ctx.openfaas ? openfaasResponse(ctx, outcome.value) : toResponse(outcome.value);
}

// A handler names a file (`index.js`, `handler.js`, the module's export is the function) or,
// Lambda style, a file and an export (`index.handler`).
function resolveHandler(codeDir, spec) {
  const file = path.resolve(codeDir, spec);
  try {
    return { file: require.resolve(file), exportName: undefined };
  } catch (err) {
    const m = /^(.+)\.([A-Za-z_$][\w$]*)$/.exec(spec);
    if (err?.code !== 'MODULE_NOT_FOUND' || !m) throw err;
    try {
      return { file: require.resolve(path.resolve(codeDir, m[1])), exportName: m[2] };
    } catch {
      throw err;
    }
  }
}

async function load(h, sock) {
  try {
    if (h.env) Object.assign(process.env, h.env);
    fnName = h.name || '';
    const spec = h.handler || 'index.js';
    const { file, exportName } = resolveHandler(h.codeDir || '/code', spec);
    let mod;
    try {
      mod = require(file);
    } catch (err) {
      if (err && err.code === 'ERR_REQUIRE_ESM') mod = await import(file);
      else throw err;
    }
    const fn = exportName
      ? mod[exportName] || mod.default?.[exportName]
      : typeof mod === 'function'
        ? mod
        : mod.handler ||
          mod.handle ||
          (mod.default && (mod.default.handler || mod.default.handle || mod.default));
    if (typeof fn !== 'function')
      throw new Error(
        exportName
          ? `${spec}: ${file} exports no function '${exportName}'`
          : `${spec} exports no function (module.exports = async (event, context) => ...)`,
      );
    handler = fn;
    sock.write(frame({ t: 'loaded', ok: true }));
  } catch (err) {
    sock.write(frame({ t: 'loaded', ok: false, error: String(err?.stack || err) }));
  }
}

async function invoke(h, body, sock) {
  const started = now();
  const headers = h.headers || {};
  const query = parseQuery(h.query);
  const event = {
    method: h.method,
    path: h.path,
    query,
    rawQuery: h.query || '',
    headers,
    body: decodeBody(body, String(headers['content-type'] || headers['Content-Type'] || '')),
    rawBody: body,
    // API Gateway's names, for handlers ported from Lambda; the body is never base64 here.
    httpMethod: h.method,
    queryStringParameters: query,
    isBase64Encoded: false,
  };
  let res;
  try {
    if (!handler) throw new Error('no function loaded');
    res = await run(event, h);
  } catch (err) {
    console.error(err);
    res = failure(err);
  }
  const functionUs = Math.round((now() - started) * 1000);
  send(sock, { t: 'res', id: h.id, status: res.status, headers: res.headers, us: functionUs }, res.body);
}

// A large answer leaves as its header then the body itself, in one writev: the body is never
// copied into a frame (a megabyte copied costs ~0.1–0.3 ms here).
const SEPARATE_BODY_BYTES = 64 * 1024;

function send(sock, header, body) {
  if (!body || body.length < SEPARATE_BODY_BYTES) {
    sock.write(frame(header, body));
    return;
  }
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.allocUnsafe(8 + json.length);
  prefix.writeUInt32BE(json.length, 0);
  prefix.writeUInt32BE(body.length, 4);
  json.copy(prefix, 8);
  sock.writev([prefix, body]);
}

// A frame split across reads is assembled in one buffer of its full size, allocated once its
// length is known (growing it read by read copied a 6 MiB body ~100 times over).
let partial = EMPTY;
let want = 0;
let have = 0;

function dispatch(buf, off, copy) {
  const hl = buf.readUInt32BE(off);
  const bl = buf.readUInt32BE(off + 4);
  const h = JSON.parse(buf.toString('utf8', off + 8, off + 8 + hl));
  const view = buf.subarray(off + 8 + hl, off + 8 + hl + bl);
  const body = bl === 0 ? EMPTY : copy ? Buffer.from(view) : view;
  if (h.t === 'inv') invoke(h, body, sock);
  else if (h.t === 'load') load(h, sock);
}

// Frames from the agent. `chunk` is the socket's one read buffer, reused for the next read
// (`onread`, ~4 µs less per call than a 'data' listener): whatever outlives this callback,
// a body or a partial frame, is copied out.
function onChunk(chunk) {
  let buf = chunk;
  let copy = true;
  if (want > 0) {
    const n = Math.min(want - have, chunk.length);
    chunk.copy(partial, have, 0, n);
    have += n;
    if (have < want) return;
    const whole = partial;
    partial = EMPTY;
    want = have = 0;
    dispatch(whole, 0, false);
    if (n === chunk.length) return;
    buf = chunk.subarray(n);
  } else if (partial.length) {
    buf = Buffer.concat([partial, chunk]); // under 8 bytes were waiting
    copy = false;
    partial = EMPTY;
  }
  let off = 0;
  while (buf.length - off >= 8) {
    const size = 8 + buf.readUInt32BE(off) + buf.readUInt32BE(off + 4);
    if (buf.length - off < size) {
      partial = Buffer.allocUnsafe(size);
      have = buf.copy(partial, 0, off);
      want = size;
      return;
    }
    dispatch(buf, off, copy);
    off += size;
  }
  if (off < buf.length) partial = Buffer.from(buf.subarray(off));
}

// A stemcell (FLOE_WARM_UP=1) runs one call through the whole invoke path, to nowhere, before
// it connects: V8 compiles each function on its first run, which cost the first call after a
// specialization ~0.6 ms. A cold start skips it: its load and first call follow the hello at
// once, and the warm-up would only move that cost in front of them.
function warmUp() {
  const discard = { write() {}, writev() {} };
  handler = async (event) => ({ statusCode: 200, headers: { 'x-warm': '1' }, body: event.body });
  try {
    const headers = { 'content-type': 'application/json' };
    const h = { t: 'inv', id: 0, method: 'POST', path: '/', query: 'a=1', headers, callId: '' };
    invoke(h, Buffer.from('{"warm":true}'), discard).catch(() => {});
  } finally {
    // invoke has called the handler by now (synchronously): `load` finds no function set.
    handler = null;
  }
}
if (process.env.FLOE_WARM_UP === '1') warmUp();

// The agent's socket, as `{ write(buf), writev(bufs) }`, reading into `onChunk`. Through the
// pipe handle Node's own net.Socket wraps: require('node:net') and the first net.connect()
// load and compile the streams stack, ~5 ms of every start here (the raw connect and first
// write take ~0.2 ms). `net` stays the fallback (FLOE_NODE_TRANSPORT=net, or a Node whose
// process.binding lacks these).
function connect(onConnect) {
  const raw = process.env.FLOE_NODE_TRANSPORT !== 'net' && rawBindings();
  return raw ? connectRaw(raw, onConnect) : connectNet(onConnect);
}

function rawBindings() {
  try {
    const pipe = process.binding('pipe_wrap');
    const stream = process.binding('stream_wrap');
    const probe = new pipe.Pipe(pipe.constants.SOCKET);
    const ok = ['connect', 'readStart', 'writeBuffer', 'writev', 'useUserBuffer'].every(
      (m) => typeof probe[m] === 'function',
    );
    probe.close();
    return ok && typeof stream.WriteWrap === 'function' && stream.streamBaseState ? { pipe, stream } : false;
  } catch {
    return false;
  }
}

const UV_EOF = -4095;

function connectRaw({ pipe, stream }, onConnect) {
  const { WriteWrap, streamBaseState, kReadBytesOrError, kLastWriteWasAsync } = stream;
  const handle = new pipe.Pipe(pipe.constants.SOCKET);
  // Writes the kernel did not take at once complete later: their requests (holding the bytes)
  // are kept until then. One completion function for all: nothing is made per write but the
  // request the handle needs.
  const inFlight = new Set();
  function written(status) {
    inFlight.delete(this);
    if (status < 0) fail(`write: ${status}`);
  }
  const issue = (req, err) => {
    if (err < 0) fail(`write: ${err}`);
    else if (streamBaseState[kLastWriteWasAsync]) inFlight.add(req);
  };
  const request = (bytes, key) => {
    const req = new WriteWrap();
    req.handle = handle;
    req[key] = bytes;
    req.oncomplete = written;
    req.async = false;
    return req;
  };
  const sock = {
    write(buf) {
      const req = request(buf, 'buffer');
      issue(req, handle.writeBuffer(req, buf));
    },
    writev(bufs) {
      const req = request(bufs, 'buffers');
      issue(req, handle.writev(req, bufs, true));
    },
  };
  // Past the socket's send buffer (~208 KiB) a read can't grow: fewer wake-ups per megabyte.
  const buffer = Buffer.allocUnsafe(256 * 1024);
  handle.useUserBuffer(buffer);
  handle.onread = () => {
    const n = streamBaseState[kReadBytesOrError];
    if (n > 0) onChunk(buffer.subarray(0, n));
    // The agent owns our lifetime: when it goes away, so do we.
    else if (n === UV_EOF) process.exit(0);
    else if (n < 0) fail(`read: ${n}`);
  };
  const req = new pipe.PipeConnectWrap();
  req.oncomplete = (status) => {
    if (status < 0) return fail(`connect ${SOCK}: ${status}`);
    handle.readStart();
    onConnect(sock);
  };
  const err = handle.connect(req, SOCK);
  if (err < 0) fail(`connect ${SOCK}: ${err}`);
  return sock;
}

function connectNet(onConnect) {
  const sock = require('node:net').connect(
    {
      path: SOCK,
      onread: {
        buffer: Buffer.allocUnsafe(256 * 1024),
        callback(n, buf) {
          onChunk(buf.subarray(0, n));
          return true;
        },
      },
    },
    () => onConnect(sock),
  );
  sock.writev = (bufs) => {
    sock.cork();
    for (const b of bufs) sock.write(b);
    sock.uncork();
  };
  // The agent owns our lifetime: when it goes away, so do we.
  sock.on('close', () => process.exit(0));
  sock.on('error', (err) => fail(err.message));
  return sock;
}

function fail(why) {
  console.error(`floe bootstrap: ${why}`);
  process.exit(70);
}

const sock = connect((s) => s.write(frame({ t: 'hello', token: TOKEN, runtime: 'node' })));
