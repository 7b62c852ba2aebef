"""A small threaded HTTP(S) server with a route table, shared by the Salesforce and Graph emulators.

The stdlib server is used on purpose: the sandbox must be able to drop a connection *after* a write
committed (a fault the engine has to survive), which an ASGI server does not allow. Routes are data:
``(method, pattern, handler, name)``; a pattern such as ``/services/data/v{ver}/sobjects/{obj}`` binds
``ver`` and ``obj`` (one path segment each, ``{rest:path}`` takes the remainder).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.faults import DROP_CONNECTION, FaultPlan

ADMIN_PREFIX = "/__sandbox__"


class CaseInsensitiveDict(dict[str, str]):
    """Header mapping; keys are stored lower-case."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for k, v in items:
            self[k.lower()] = v

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass
class Request:
    method: str
    path: str  # decoded, with '//' collapsed
    raw_path: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict
    body: bytes
    client: str
    params: dict[str, str] = field(default_factory=dict)
    base_url: str = ""  # scheme://host:port as the client addressed us

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter, name matched case-insensitively."""
        low = name.lower()
        for k, v in self.query.items():
            if k.lower() == low and v:
                return v[0]
        return default

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        pairs = urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True)
        return dict(pairs)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> Response:
        data = json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8")
        h = {"Content-Type": content_type}
        h.update(headers or {})
        return cls(status, data, h)

    @classmethod
    def text(cls, body: str, status: int = 200, content_type: str = "text/plain; charset=utf-8",
             headers: dict[str, str] | None = None) -> Response:
        h = {"Content-Type": content_type}
        h.update(headers or {})
        return cls(status, body.encode("utf-8"), h)

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))


class HttpError(Exception):
    """Raised by handlers to answer with an error body in the emulated API's own shape."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


Handler = Callable[[Request], Response]

_PARAM = re.compile(r"\{(\w+)(:path)?\}")


def _compile(pattern: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("^" + "".join(out) + "/?$")


@dataclass
class Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    name: str


class Router:
    """Ordered route table; the first route whose method and pattern match wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, name: str | None = None) -> None:
        for m in method.split("|"):
            self.routes.append(Route(m.upper(), _compile(pattern), handler, name or pattern))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Return (route, params, path_known). path_known tells 405 from 404."""
        known = False
        for r in self.routes:
            m = r.regex.match(path)
            if m:
                known = True
                if r.method == method:
                    # The path was decoded once already, except for encoded slashes kept inside a
                    # segment (an external id may contain '/'); decode only those here.
                    return r, {k: v.replace("%2F", "/").replace("%2f", "/")
                               for k, v in m.groupdict().items()}, True
        return None, {}, known


class App:
    """What a server serves: a router plus the hooks every emulator shares.

    Subclasses set ``router``; ``not_found`` and ``on_error`` produce bodies in the API's own shape, and
    ``mailbox_of`` names the mailbox a request is for (per-mailbox counters and concurrency limits).
    """

    name = "app"

    def __init__(self, faults: FaultPlan) -> None:
        self.router = Router()
        self.faults = faults
        self._lock = threading.Lock()
        self.counters: dict[str, int] = {}
        self.mailbox_counters: dict[str, int] = {}
        self.inflight: dict[str, int] = {}

    # hooks -----------------------------------------------------------------------------------
    def not_found(self, req: Request) -> Response:
        return Response.json({"error": "not found", "path": req.path}, 404)

    def method_not_allowed(self, req: Request) -> Response:
        return Response.json({"error": "method not allowed"}, 405)

    def on_error(self, req: Request, exc: Exception) -> Response:
        return Response.json({"error": type(exc).__name__, "message": str(exc)}, 500)

    def mailbox_of(self, req: Request) -> str | None:
        return None

    def throttle_response(self, req: Request, status: int, retry_after: int, code: str) -> Response:
        return Response.json({"error": code}, status, headers={"Retry-After": str(retry_after)})

    def decorate(self, req: Request, resp: Response) -> Response:
        """Add headers every response of this API carries."""
        return resp

    # counters --------------------------------------------------------------------------------
    def count(self, route: str, mailbox: str | None) -> None:
        with self._lock:
            self.counters[route] = self.counters.get(route, 0) + 1
            if mailbox:
                self.mailbox_counters[mailbox] = self.mailbox_counters.get(mailbox, 0) + 1

    def reset_counters(self) -> None:
        with self._lock:
            self.counters.clear()
            self.mailbox_counters.clear()

    def enter(self, key: str) -> int:
        with self._lock:
            self.inflight[key] = self.inflight.get(key, 0) + 1
            return self.inflight[key]

    def leave(self, key: str) -> None:
        with self._lock:
            self.inflight[key] = max(0, self.inflight.get(key, 1) - 1)

    # dispatch --------------------------------------------------------------------------------
    def dispatch(self, req: Request) -> Response | object:
        """Serve one request; may return DROP_CONNECTION to close the socket without answering."""
        route, params, known = self.router.match(req.method, req.path)
        if route is None:
            return self.decorate(req, self.method_not_allowed(req) if known else self.not_found(req))
        req.params = params
        is_admin = req.path.startswith(ADMIN_PREFIX)
        mailbox = None if is_admin else self.mailbox_of(req)
        if not is_admin:
            self.count(route.name, mailbox)
            decision = self.faults.before(self.name, req.method, req.path, route.name)
            if decision.status:
                return self.throttle_response(req, decision.status, decision.retry_after, decision.code)
        else:
            decision = None
        key = self.faults.concurrency_key(self.name, mailbox)
        if key is not None and self.enter(key) > self.faults.max_concurrent:
            self.leave(key)
            return self.throttle_response(req, 429, 1, "ApplicationThrottled")
        try:
            # Latency is spent inside the concurrency slot, as a slow server would, so it can make
            # requests to one mailbox overlap and trip the per-mailbox limit.
            if decision is not None and decision.latency_s:
                time.sleep(decision.latency_s)
            try:
                resp = route.handler(req)
            except HttpError as e:
                resp = e.response
            except Exception as e:  # a bug in the emulator must still answer in the API's shape
                resp = self.on_error(req, e)
        finally:
            if key is not None:
                self.leave(key)
        if not is_admin and self.faults.drop_after(self.name, req.method, req.path, route.name, resp.status):
            return DROP_CONNECTION
        return self.decorate(req, resp)


def _make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "calsync-sandbox"

        def log_message(self, format: str, *args: Any) -> None:  # silence per-request logs
            return

        def _serve(self) -> None:
            client = self.client_address[0]
            if client not in ("127.0.0.1", "::1") and not client.startswith("127."):
                self.send_error(403)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urllib.parse.urlsplit(self.path)
            # Decode once; an encoded '/' stays encoded so it cannot split a path segment.
            raw = split.path.replace("%2F", "%252F").replace("%2f", "%252f")
            path = re.sub(r"/{2,}", "/", urllib.parse.unquote(raw)) or "/"
            query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
            scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            req = Request(self.command, path, self.path, query, CaseInsensitiveDict(self.headers.items()),
                          body, client, base_url=f"{scheme}://{host}")
            result = app.dispatch(req)
            if result is DROP_CONNECTION:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            assert isinstance(result, Response)
            self.send_response(result.status)
            for k, v in result.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(result.body)))
            self.end_headers()
            if result.body and self.command != "HEAD":
                self.wfile.write(result.body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    return _Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets or drops its connection (retries, timeouts, the drop fault itself) is
        # normal traffic for an emulator; socketserver would print a traceback for each.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class ServerThread:
    """Runs an App on 127.0.0.1 in a daemon thread; ``ready`` is set once it accepts connections."""

    def __init__(self, app: App, port: int = 0, ssl_context: ssl.SSLContext | None = None,
                 host: str = "127.0.0.1") -> None:
        self.app = app
        self.ready = threading.Event()
        self._server = _Server((host, port), _make_handler(app))
        if ssl_context is not None:
            # The handshake happens in the request's own thread, so a slow client never blocks accept().
            self._server.socket = ssl_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.scheme = "https" if ssl_context is not None else "http"
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._run, name=f"sandbox-{app.name}", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def _run(self) -> None:
        self.ready.set()
        self._server.serve_forever(poll_interval=0.1)

    def start(self) -> ServerThread:
        self._thread.start()
        self.ready.wait(5)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
