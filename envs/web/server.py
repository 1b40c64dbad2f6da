"""A loopback HTTP server for web envs: static files and an optional app, on 127.0.0.1.

Web envs serve their pages themselves so that nothing leaves the machine and the browser's
allowlist can be exactly one origin. :class:`LoopbackServer` binds 127.0.0.1 on a free port,
serves each request on a thread, and asks ``app(request)`` first (dynamic pages, forms, the
server-side state a task checker reads); when the app returns None it serves a file from
``static_dir``. ``start()``/``stop()`` are idempotent; ``stop()`` frees the port.
"""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any


@dataclass
class Request:
    """One request as an app sees it; ``query`` and ``form`` keep the last value of each key."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    """What an app answers; ``location`` makes it a redirect (status 303 unless given)."""

    body: str | bytes = ""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    location: str | None = None


App = Callable[[Request], Response | None]


class _Handler(http.server.SimpleHTTPRequestHandler):
    app: App | None = None

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _dispatch(self, method: str) -> bool:
        if self.app is None:
            return False
        parts = urllib.parse.urlsplit(self.path)
        form: dict[str, str] = {}
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode("utf-8", "replace")))
        request = Request(method, urllib.parse.unquote(parts.path), dict(urllib.parse.parse_qsl(parts.query)), form)
        try:
            response = self.app(request)
        except Exception as exc:  # a bug in a site must show as a page, not kill the thread
            response = Response(f"server error: {type(exc).__name__}: {exc}", status=500, content_type="text/plain")
        if response is None:
            return False
        body = response.body.encode() if isinstance(response.body, str) else response.body
        status = response.status if not response.location or response.status != 200 else 303
        self.send_response(status)
        if response.location:
            self.send_header("Location", response.location)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return True

    def do_GET(self) -> None:
        if not self._dispatch("GET"):
            super().do_GET()

    def do_POST(self) -> None:
        if not self._dispatch("POST"):
            self.send_error(404)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser that hung up early (a timeout, a cancelled load) is not an error here


class LoopbackServer:
    """Serve ``app`` and the files under ``static_dir`` on http://127.0.0.1:<free port>."""

    def __init__(self, static_dir: str | Path | None = None, app: App | None = None):
        self.static_dir = Path(static_dir) if static_dir else None
        self.app = app
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LoopbackServer:
        if self._server is None:
            handler = type("Handler", (_Handler,), {"app": staticmethod(self.app) if self.app else None})
            directory = str(self.static_dir) if self.static_dir else "/nonexistent-lma-static"
            self._server = _Server(("127.0.0.1", 0), partial(handler, directory=directory))
            self._thread = threading.Thread(target=self._server.serve_forever, name="lma-web-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            if self._thread is not None:
                self._thread.join(5)

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str = "/") -> str:
        return self.origin + ("" if path.startswith("/") else "/") + path

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
