# Floe's python runtime: started as a stemcell with no function code, it connects to the
# agent, waits frozen, and on `load` imports the handler from /code without restarting.
# Wire format: see libs/contracts/src/rpc/frame-codec.ts (JSON headers). Calls run on threads
# so a function with max concurrency above 1 can overlap them.
import base64
import importlib.util
import json
import os
import socket
import struct
import sys
import threading
import time
import traceback
from urllib.parse import parse_qsl

SOCK = os.environ.get("FLOE_AGENT_SOCK", "/run/floe/agent.sock")
TOKEN = os.environ.get("FLOE_INSTANCE_TOKEN", "")
state = {"handler": None, "name": ""}
send_lock = threading.Lock()


def send(sock, header, body=b""):
    head = json.dumps(header).encode()
    with send_lock:
        sock.sendall(struct.pack(">II", len(head), len(body)) + head + body)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def resolve_handler(code, spec):
    """A handler names `module.function` (`handler.handle`), a module (`handler`), or a file
    (`handler.py`, `function/handler.py`), which means its `handle`; `file.py:fn` or
    `module:fn` names another function. Returns (module name, file path, function name)."""
    target, _, func = spec.partition(":")
    if target.endswith(".py"):
        path = os.path.join(code, target)
        return os.path.splitext(os.path.basename(target))[0], path, func or "handle"
    if not func:
        path = os.path.join(code, target.replace(".", "/") + ".py")
        if os.path.isfile(path):
            func = "handle"
        else:
            target, _, func = target.rpartition(".")
    return target, os.path.join(code, target.replace(".", "/") + ".py"), func or "handle"


def load(sock, h):
    try:
        os.environ.update(h.get("env") or {})
        state["name"] = h.get("name", "")
        spec = h.get("handler") or "handler.handle"
        code = h.get("codeDir", "/code")
        sys.path.insert(0, code)
        mod_name, path, func = resolve_handler(code, spec)
        if not os.path.isfile(path):
            raise RuntimeError(f"{spec}: no file {path}")
        mspec = importlib.util.spec_from_file_location(mod_name, path)
        mod = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(mod)
        fn = getattr(mod, func, None)
        if not callable(fn):
            raise RuntimeError(f"{spec}: no callable '{func}' in {path}")
        state["handler"] = fn
        send(sock, {"t": "loaded", "ok": True})
    except Exception:
        send(sock, {"t": "loaded", "ok": False, "error": traceback.format_exc()})


class Headers(dict):
    """Header names are case-insensitive, as in python3-http's werkzeug Headers."""

    def __init__(self, items):
        super().__init__((k.lower(), v) for k, v in items.items())

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default)

    def __contains__(self, key):
        return isinstance(key, str) and super().__contains__(key.lower())


class Event(dict):
    """Floe's dict (`event["body"]` is the text, the parsed JSON, or bytes that are not UTF-8)
    that also reads as python3-http's event: `event.body` is the raw bytes, and `event.headers`,
    `event.method`, `event.query` and `event.path` are attributes."""

    @property
    def body(self):
        return self["rawBody"]

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Context(dict):
    """Floe's dict, with attribute access and python3-http's `hostname`."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def to_bytes(body):
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return None


def to_response(result):
    if result is None:
        return 204, {}, b""
    if isinstance(result, (str, bytes, bytearray, memoryview)):
        return 200, {"content-type": "text/plain; charset=utf-8"}, to_bytes(result)
    if isinstance(result, tuple) and 1 <= len(result) <= 3:
        # Flask's (body, status[, headers]), which python3-http passes through.
        status, headers, body = to_response({"body": result[0]})
        if len(result) > 1:
            status = int(result[1])
        if len(result) > 2:
            headers.update(result[2] or {})
        return status, headers, body
    if isinstance(result, dict) and ("statusCode" in result or "body" in result):
        headers = dict(result.get("headers") or {})
        body = result.get("body")
        raw = to_bytes(body)
        if raw is None:
            raw = json.dumps(body).encode()
            if not any(k.lower() == "content-type" for k in headers):
                headers["content-type"] = "application/json"
        elif result.get("isBase64Encoded") and isinstance(body, str):
            raw = base64.b64decode(body)
        return int(result.get("statusCode") or 200), headers, raw
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()


def invoke(sock, h, body):
    started = time.perf_counter()
    headers = Headers(h.get("headers") or {})
    # As in the node runtime: text (JSON parsed) when the bytes are UTF-8, else the bytes.
    try:
        parsed = body.decode("utf-8")
    except UnicodeDecodeError:
        parsed = body
    if isinstance(parsed, str) and parsed and "json" in headers.get("content-type", ""):
        try:
            parsed = json.loads(parsed)
        except ValueError:
            pass
    query = dict(parse_qsl(h.get("query") or ""))
    event = Event(
        method=h.get("method"), path=h.get("path"), query=query, rawQuery=h.get("query") or "",
        headers=headers, body=parsed, rawBody=body,
        # API Gateway's names, for handlers ported from Lambda; the body is never base64 here.
        httpMethod=h.get("method"), queryStringParameters=query, isBase64Encoded=False,
    )
    context = Context(
        callId=h.get("callId"), functionName=state["name"], deadline=h.get("deadline"),
        hostname=os.environ.get("HOSTNAME", "localhost"),
    )
    try:
        if state["handler"] is None:
            raise RuntimeError("no function loaded")
        status, rheaders, rbody = to_response(state["handler"](event, context))
    except Exception as err:
        traceback.print_exc()
        status, rheaders, rbody = 500, {"content-type": "text/plain"}, str(err).encode()
    us = int((time.perf_counter() - started) * 1e6)
    send(sock, {"t": "res", "id": h["id"], "status": status, "headers": rheaders, "us": us}, rbody)


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(SOCK)
    send(sock, {"t": "hello", "token": TOKEN, "runtime": "python"})
    while True:
        try:
            hl, bl = struct.unpack(">II", recv_exact(sock, 8))
            h = json.loads(recv_exact(sock, hl))
            body = recv_exact(sock, bl) if bl else b""
        except EOFError:
            # The agent owns our lifetime: when it goes away, so do we.
            os._exit(0)
        if h.get("t") == "inv":
            threading.Thread(target=invoke, args=(sock, h, body), daemon=True).start()
        elif h.get("t") == "load":
            load(sock, h)


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    main()
