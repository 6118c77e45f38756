# Floe's python runtime (started by python-bootstrap.py): started as a stemcell with no
# function code, it connects to the agent, waits frozen, and on `load` imports the handler
# from /code without restarting.
# Wire format: see libs/contracts/src/rpc/frame-codec.ts (JSON headers). Calls run on threads
# so a function with max concurrency above 1 can overlap them.
# Only what the first call needs is imported at start: every module here is on each cold
# start's path (socket, threading, base64, traceback and urllib.parse cost ~15 ms together,
# more than Python itself takes to start). The rest is imported where it is used.
import _socket
import _thread
import os
import sys
import time

try:
    # The import system's own (frozen, already loaded) functions behind importlib.util.
    from _frozen_importlib import module_from_spec
    from _frozen_importlib_external import spec_from_file_location
except ImportError:  # pragma: no cover - another interpreter
    from importlib.util import module_from_spec, spec_from_file_location

class _JsonContext:
    """What json.JSONDecoder hands its C scanner: the defaults of json.loads."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # float("NaN"), float("-Infinity"): what json.loads gives
    memo = None


def _no_default(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


try:
    # json.loads/json.dumps through the C functions behind them: the json package imports re
    # (~6 ms), which the C scanner and encoder don't need.
    import _json

    _scan = _json.make_scanner(_JsonContext())

    def json_loads(s):
        if isinstance(s, (bytes, bytearray)):
            s = s.decode("utf-8")
        start = len(s) - len(s.lstrip(" \t\n\r"))
        try:
            obj, end = _scan(s, start)
        except StopIteration as err:
            raise ValueError(f"Expecting value: char {err.value}") from None
        if s[end:].strip(" \t\n\r"):
            raise ValueError(f"Extra data: line 1 column {end + 1} (char {end})")
        return obj

    def json_dumps(o):
        # json.dumps' defaults (ensure_ascii, ", " and ": ", allow_nan); one encoder per call,
        # since its circular-reference markers are per encoding and calls run on threads.
        enc = _json.make_encoder({}, _no_default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True)
        return "".join(enc(o, 0))

    # Frame headers are the runtime's own flat dicts, never circular: one encoder without the
    # markers serves every frame, on any thread.
    _header_encoder = _json.make_encoder(
        None, _no_default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )

    def header_dumps(h):
        return "".join(_header_encoder(h, 0))

    if json_loads(json_dumps({"a": [1, 2.5, None, True, "é"]})) != {"a": [1, 2.5, None, True, "é"]}:
        raise ImportError("_json round trip")
    if header_dumps({"t": "res", "id": 1}) != '{"t": "res", "id": 1}':
        raise ImportError("_json header encoder")
except (ImportError, AttributeError, TypeError, ValueError):  # pragma: no cover
    from json import dumps as json_dumps, loads as json_loads

    header_dumps = json_dumps


SOCK = os.environ.get("FLOE_AGENT_SOCK", "/run/floe/agent.sock")
TOKEN = os.environ.get("FLOE_INSTANCE_TOKEN", "")
state = {"handler": None, "name": ""}
send_lock = _thread.allocate_lock()


def send(sock, header, body=b""):
    head = header_dumps(header).encode()
    with send_lock:
        sock.sendall(len(head).to_bytes(4, "big") + len(body).to_bytes(4, "big") + head + body)


def format_exc():
    import traceback

    return traceback.format_exc()


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
        mspec = spec_from_file_location(mod_name, path)
        mod = module_from_spec(mspec)
        mspec.loader.exec_module(mod)
        fn = getattr(mod, func, None)
        if not callable(fn):
            raise RuntimeError(f"{spec}: no callable '{func}' in {path}")
        state["handler"] = fn
        send(sock, {"t": "loaded", "ok": True})
    except Exception:
        send(sock, {"t": "loaded", "ok": False, "error": format_exc()})


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


class _AttrDict(dict):
    """A dict whose keys also read as attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Event(_AttrDict):
    """Floe's dict (`event["body"]` is the text, the parsed JSON, or bytes that are not UTF-8)
    that also reads as python3-http's event: `event.body` is the raw bytes, and `event.headers`,
    `event.method`, `event.query` and `event.path` are attributes."""

    @property
    def body(self):
        return self["rawBody"]


class Context(_AttrDict):
    """Floe's dict, with attribute access and python3-http's `hostname`."""


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
            raw = json_dumps(body).encode()
            if not any(k.lower() == "content-type" for k in headers):
                headers["content-type"] = "application/json"
        elif result.get("isBase64Encoded") and isinstance(body, str):
            import base64

            raw = base64.b64decode(body)
        return int(result.get("statusCode") or 200), headers, raw
    return 200, {"content-type": "application/json"}, json_dumps(result).encode()


def parse_query(q):
    if not q:
        return {}
    from urllib.parse import parse_qsl

    return dict(parse_qsl(q))


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
            parsed = json_loads(parsed)
        except ValueError:
            pass
    query = parse_query(h.get("query") or "")
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
        sys.stderr.write(format_exc())
        status, rheaders, rbody = 500, {"content-type": "text/plain"}, str(err).encode()
    us = int((time.perf_counter() - started) * 1e6)
    send(sock, {"t": "res", "id": h["id"], "status": status, "headers": rheaders, "us": us}, rbody)


def main():
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.connect(SOCK)
    send(sock, {"t": "hello", "token": TOKEN, "runtime": "python"})
    while True:
        try:
            size = recv_exact(sock, 8)
            hl, bl = int.from_bytes(size[:4], "big"), int.from_bytes(size[4:], "big")
            h = json_loads(recv_exact(sock, hl))
            body = recv_exact(sock, bl) if bl else b""
        except EOFError:
            # The agent owns our lifetime: when it goes away, so do we.
            os._exit(0)
        if h.get("t") == "inv":
            _thread.start_new_thread(invoke, (sock, h, body))
        elif h.get("t") == "load":
            load(sock, h)
