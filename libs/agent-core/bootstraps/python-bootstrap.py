# Floe's python runtime: started as a stemcell with no function code, it connects to the
# agent, waits frozen, and on `load` imports the handler from /code without restarting.
# Wire format: see libs/contracts/src/rpc/frame-codec.ts (JSON headers). Calls run on threads
# so a function with max concurrency above 1 can overlap them.
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


def load(sock, h):
    try:
        os.environ.update(h.get("env") or {})
        state["name"] = h.get("name", "")
        spec = h.get("handler") or "handler.handle"
        mod_name, _, func = spec.rpartition(".")
        if mod_name.endswith(".py"):
            mod_name = mod_name[:-3]
        code = h.get("codeDir", "/code")
        sys.path.insert(0, code)
        path = os.path.join(code, mod_name.replace(".", "/") + ".py")
        mspec = importlib.util.spec_from_file_location(mod_name, path)
        mod = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(mod)
        fn = getattr(mod, func or "handle", None)
        if not callable(fn):
            raise RuntimeError(f"{spec}: no callable '{func}' in {path}")
        state["handler"] = fn
        send(sock, {"t": "loaded", "ok": True})
    except Exception:
        send(sock, {"t": "loaded", "ok": False, "error": traceback.format_exc()})


def to_response(result):
    if result is None:
        return 204, {}, b""
    if isinstance(result, (str, bytes)):
        body = result.encode() if isinstance(result, str) else result
        return 200, {"content-type": "text/plain; charset=utf-8"}, body
    if isinstance(result, dict) and ("statusCode" in result or "body" in result):
        headers = dict(result.get("headers") or {})
        body = result.get("body")
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        return int(result.get("statusCode", 200)), headers, body
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()


def invoke(sock, h, body):
    started = time.perf_counter()
    headers = h.get("headers") or {}
    parsed = body.decode("utf-8", "replace")
    if "json" in headers.get("content-type", "") and body:
        try:
            parsed = json.loads(parsed)
        except ValueError:
            pass
    event = {
        "method": h.get("method"), "path": h.get("path"), "query": dict(parse_qsl(h.get("query") or "")),
        "rawQuery": h.get("query") or "", "headers": headers, "body": parsed, "rawBody": body,
    }
    context = {"callId": h.get("callId"), "functionName": state["name"], "deadline": h.get("deadline")}
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
