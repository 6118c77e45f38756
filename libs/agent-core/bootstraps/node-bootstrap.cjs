'use strict';
// Floe's node runtime: started as a stemcell with no function code, it connects to the agent,
// waits frozen, and on `load` requires the handler from /code without restarting node.
// Wire format: see libs/contracts/src/rpc/frame-codec.ts (JSON headers). This file is bind-mounted
// into containers as plain CommonJS and cannot load that module, so it frames and decodes on its
// own; its only peer is the agent, which bounds bodies, so it may allocate a frame's full size.
const net = require('node:net');
const path = require('node:path');

const SOCK = process.env.FLOE_AGENT_SOCK || '/run/floe/agent.sock';
const TOKEN = process.env.FLOE_INSTANCE_TOKEN || '';
let handler = null;
let fnName = '';

const EMPTY = Buffer.alloc(0);

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
  for (const [k, v] of new URLSearchParams(q || '')) out[k] = v;
  return out;
}

function toResponse(result) {
  if (result === undefined || result === null) return { status: 204, headers: {}, body: EMPTY };
  if (typeof result === 'string' || Buffer.isBuffer(result)) {
    return {
      status: 200,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: Buffer.from(result),
    };
  }
  if (typeof result === 'object' && ('statusCode' in result || 'body' in result)) {
    const headers = Object.assign({}, result.headers || {});
    let body = result.body;
    if (body === undefined || body === null) body = EMPTY;
    else if (Buffer.isBuffer(body)) {
      // already bytes
    } else if (typeof body === 'string')
      body = result.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body);
    else {
      body = Buffer.from(JSON.stringify(body));
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
        headers['content-type'] = 'application/json';
    }
    return { status: Number(result.statusCode || 200), headers, body };
  }
  return {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify(result)),
  };
}

async function load(h, sock) {
  try {
    if (h.env) Object.assign(process.env, h.env);
    fnName = h.name || '';
    const file = path.resolve(h.codeDir || '/code', h.handler || 'index.js');
    let mod;
    try {
      mod = require(file);
    } catch (err) {
      if (err && err.code === 'ERR_REQUIRE_ESM') mod = await import(file);
      else throw err;
    }
    const fn =
      typeof mod === 'function'
        ? mod
        : mod.handler || mod.handle || (mod.default && (mod.default.handler || mod.default));
    if (typeof fn !== 'function')
      throw new Error(`${h.handler} exports no function (module.exports = async (event, context) => ...)`);
    handler = fn;
    sock.write(frame({ t: 'loaded', ok: true }));
  } catch (err) {
    sock.write(frame({ t: 'loaded', ok: false, error: String(err?.stack || err) }));
  }
}

async function invoke(h, body, sock) {
  const started = performance.now();
  const ct = String((h.headers && (h.headers['content-type'] || h.headers['Content-Type'])) || '');
  let parsed = body.toString('utf8');
  if (ct.includes('json') && body.length) {
    try {
      parsed = JSON.parse(parsed);
    } catch {}
  }
  const event = {
    method: h.method,
    path: h.path,
    query: parseQuery(h.query),
    rawQuery: h.query || '',
    headers: h.headers || {},
    body: parsed,
    rawBody: body,
  };
  const context = { callId: h.callId, functionName: fnName, deadline: h.deadline, log: console.log };
  let res;
  try {
    if (!handler) throw new Error('no function loaded');
    res = toResponse(await handler(event, context));
  } catch (err) {
    console.error(err);
    res = {
      status: 500,
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from(String(err?.message || err)),
    };
  }
  const functionUs = Math.round((performance.now() - started) * 1000);
  sock.write(
    frame({ t: 'res', id: h.id, status: res.status, headers: res.headers, us: functionUs }, res.body),
  );
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

const sock = net.connect(
  {
    path: SOCK,
    onread: {
      buffer: Buffer.allocUnsafe(64 * 1024),
      callback(n, buf) {
        onChunk(buf.subarray(0, n));
        return true;
      },
    },
  },
  () => sock.write(frame({ t: 'hello', token: TOKEN, runtime: 'node' })),
);
// The agent owns our lifetime: when it goes away, so do we.
sock.on('close', () => process.exit(0));
sock.on('error', (err) => {
  console.error(`floe bootstrap: ${err.message}`);
  process.exit(70);
});
