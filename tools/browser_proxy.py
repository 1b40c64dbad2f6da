"""The browser's only way out: an HTTP proxy on 127.0.0.1 that applies the session's origin
policy to the host and port each connection really goes to.

Chromium is started with this proxy as its one route to any network, loopback included (see
:func:`lma.tools.browser_process.chromium_args`), so every request it makes passes here, whoever
made it: a page, a frame, a dedicated or shared worker, a WebSocket, or the browser itself
(payment manifests, beacons after a page is gone, update and autofill services). Two forms
arrive, and each is decided on the proxy's own parse (:func:`~lma.tools.browser_safety.split_url`),
then connected to exactly the host and port that were checked:

* an absolute-form request (``GET http://host:port/path HTTP/1.1``) for plain HTTP. It is sent
  on to the server in origin form; the answer is relayed back. Each request on a kept-alive
  client connection is decided (and connected) on its own;
* a ``CONNECT host:port`` tunnel, which Chromium uses for https, ws and wss. The proxy sees no
  URL and no scheme, only the endpoint, and checks that.

A refused request gets a 403 page saying what was refused and why (Chromium shows it in place of
the page; for a refused tunnel it shows its own error), and an entry in the session's
:class:`~lma.tools.browser_safety.Ledger`. An allowed server that cannot be reached, or does not
start answering within ``timeout`` seconds, gets a 502 or 504 page and a failure entry. Anything
the proxy cannot parse is refused: it fails closed.

HTTP/1.1 framing on both sides is h11's, a maintained parser; the proxy's own code is the policy,
the relaying, and the pages. Every proxy of a process runs on one asyncio loop in a daemon thread,
so nothing of it can outlive the process (docs/web.md explains why this is not proxy.py or
mitmproxy).
"""

from __future__ import annotations

import asyncio
import html
import os
import threading
from collections.abc import Sequence
from typing import Any

import h11

from lma.tools.browser_safety import (
    BadUrl,
    Ledger,
    OriginPolicy,
    Target,
    split_authority,
    split_url,
)

_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization",
               b"proxy-authenticate", b"te", b"trailer", b"upgrade"}
_CHUNK = 65536
_MAX_HEAD = 256 * 1024  # request and response heads; Chromium's own limit on a URL is 2 MB
_LOOP_LOCK = threading.Lock()
_LOOP: dict[int, asyncio.AbstractEventLoop] = {}


def _loop() -> asyncio.AbstractEventLoop:
    """This process's proxy event loop, started on first use (again in a forked child)."""
    with _LOOP_LOCK:
        loop = _LOOP.get(os.getpid())
        if loop is None:
            loop = _LOOP[os.getpid()] = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="lma-egress-proxy", daemon=True).start()
        return loop


class _ServerError(Exception):
    """The server an allowed request went to broke off, was too slow, or did not speak HTTP."""

    def __init__(self, message: str, status: int = 502):
        super().__init__(message)
        self.status = status


class _Peer:
    """One side of an exchange: a stream and the h11 state machine that frames it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, role: Any):
        self.reader, self.writer = reader, writer
        self.conn = h11.Connection(role, max_incomplete_event_size=_MAX_HEAD)

    async def next_event(self) -> Any:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                if self.conn.our_role is h11.CLIENT:  # a client's bad request is handled in _serve
                    raise _ServerError(f"the server's answer is not HTTP ({exc})") from None
                raise
            if event is not h11.NEED_DATA:
                return event
            self.conn.receive_data(await self.reader.read(_CHUNK))

    async def send(self, *events: Any) -> None:
        for event in events:
            data = self.conn.send(event)
            if data:
                self.writer.write(data)
        await self.writer.drain()


def _forwarded(headers: Sequence[tuple[bytes, bytes]], host: str | None = None) -> list[tuple[bytes, bytes]]:
    """``headers`` without hop-by-hop ones (and those ``Connection`` names); ``host`` replaces Host."""
    named = {token.strip().lower() for name, value in headers if name == b"connection" for token in value.split(b",")}
    kept = [(n, v) for n, v in headers if n not in _HOP_BY_HOP and n not in named and not (host and n == b"host")]
    return ([(b"host", host.encode())] if host else []) + kept


def _page(status: int, title: str, lines: list[str]) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    data = (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>").encode()
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(data)).encode()),
               (b"cache-control", b"no-store"), (b"content-security-policy", b"default-src 'none'"),
               (b"x-content-type-options", b"nosniff"), (b"connection", b"close")]
    return headers, data


class EgressProxy:
    """A session's proxy: ``start()`` binds 127.0.0.1 on a free port (``port``), ``close()`` stops
    it and cuts every connection still open. ``timeout`` bounds connecting and the wait for an
    answer's head (not a long answer's body, nor a tunnel's life)."""

    def __init__(self, policy: OriginPolicy, ledger: Ledger, timeout: float = 12.0):
        self.policy, self.ledger, self.timeout = policy, ledger, timeout
        self.port = 0
        self.connections = 0  # client connections accepted so far (an idle browser opens none)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> EgressProxy:
        asyncio.run_coroutine_threadsafe(self._start(), _loop()).result(10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stop listening and cut all connections. Idempotent."""
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), _loop()).result(10)

    async def _stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- one client connection -------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        client = _Peer(reader, writer, h11.SERVER)
        try:
            while await self._exchange(client):
                client.conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:  # not HTTP the proxy can read: refused, not guessed at
            self.ledger.refuse("(unparsable request)", f"the proxy could not parse it: {exc}")
            await self._answer(client, exc.error_status_hint, "Refused by lma", ["The proxy could not parse this request."])
        except (OSError, h11.LocalProtocolError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _exchange(self, client: _Peer) -> bool:
        """Serve one request; True if the client connection may carry another."""
        request = await client.next_event()
        if not isinstance(request, h11.Request):
            return False
        url = request.target.decode("ascii", "replace")
        if request.method == b"CONNECT":
            await self._tunnel(client, url)
            return False
        try:
            target = split_url(url)
            reason = (self.policy.check_endpoint(target.host, target.port, "http") if target.scheme == "http"
                      else f"{target.scheme}: travels only in a tunnel")
        except BadUrl as exc:
            reason = str(exc)
        if reason:
            await self._refuse(client, url, reason, "request", request.method)
            return False
        server = await self._connect(client, target.host, target.port, url, request.method)
        if server is None:
            return False
        try:
            return await self._relay(client, server, request, target)
        except _ServerError as exc:
            self.ledger.fail(url, str(exc))
            if client.conn.our_state is h11.SEND_RESPONSE:
                await self._answer(client, exc.status, "Not loaded", [f"{url}: {exc}."], request.method)
            return False
        finally:
            server.writer.close()

    async def _relay(self, client: _Peer, server: _Peer, request: h11.Request, target: Target) -> bool:
        """Send ``request`` on to ``server`` in origin form and its answer back to ``client``."""
        host = target.authority.removesuffix(":80")
        await server.send(h11.Request(method=request.method, target=target.rest.encode(),
                                      headers=_forwarded(request.headers, host) + [(b"connection", b"close")]))
        while not isinstance(event := await client.next_event(), h11.EndOfMessage):
            if not isinstance(event, h11.Data):
                return False
            await server.send(event)
        await server.send(h11.EndOfMessage())
        try:
            head = await asyncio.wait_for(_head(server), self.timeout)
        except TimeoutError:
            raise _ServerError(f"no answer within {self.timeout:g}s", 504) from None
        await client.send(h11.Response(status_code=head.status_code, reason=head.reason,
                                       headers=_forwarded(head.headers)))
        while not isinstance(event := await server.next_event(), h11.EndOfMessage):
            if not isinstance(event, h11.Data):
                raise _ServerError("the server closed the connection mid-answer")
            await client.send(event)
        await client.send(h11.EndOfMessage())
        return client.conn.our_state is h11.DONE and client.conn.their_state is h11.DONE

    async def _tunnel(self, client: _Peer, authority: str) -> None:
        try:
            host, port = split_authority(authority)
            reason = self.policy.check_endpoint(host, port)
        except BadUrl as exc:
            reason = str(exc)
        if reason:
            await self._refuse(client, authority, reason, "connection", b"CONNECT")
            return
        while (event := await client.next_event()) is not h11.PAUSED:  # the CONNECT's empty body
            if isinstance(event, h11.ConnectionClosed):
                return
        upstream = await self._connect(client, host, port, authority, b"CONNECT")
        if upstream is None:
            return
        try:
            await client.send(h11.Response(status_code=200, reason=b"Connection established", headers=[]))
            early, _ = client.conn.trailing_data
            upstream.writer.write(early)
            await asyncio.gather(_pipe(client.reader, upstream.writer), _pipe(upstream.reader, client.writer))
        finally:
            upstream.writer.close()

    # -- helpers ---------------------------------------------------------------------------
    async def _connect(self, client: _Peer, host: str, port: int, url: str, method: bytes) -> _Peer | None:
        """Open a connection to exactly ``host:port`` (already allowed); None after answering 502/504."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]"), port, limit=_MAX_HEAD), self.timeout)
        except (OSError, TimeoutError) as exc:
            reason = ("connection refused" if isinstance(exc, ConnectionRefusedError)
                      else f"no answer within {self.timeout:g}s" if isinstance(exc, TimeoutError)
                      else (exc.strerror or type(exc).__name__))
            self.ledger.fail(url, reason)
            status = 504 if isinstance(exc, TimeoutError) else 502
            await self._answer(client, status, "Not loaded", [f"{url} could not be reached: {reason}."], method)
            return None
        if writer.get_extra_info("peername")[:2] == ("127.0.0.1", self.port):
            writer.close()
            await self._refuse(client, url, "the proxy itself is not a destination", "request", method)
            return None
        return _Peer(reader, writer, h11.CLIENT)

    async def _refuse(self, client: _Peer, url: str, reason: str, kind: str, method: bytes) -> None:
        self.ledger.refuse(url, reason, kind)
        await self._answer(client, 403, "Refused by lma", [
            f"lma's browser did not load {url[:2000]}: {reason}.",
            f"Allowed: {self.policy.describe()}."], method)

    async def _answer(self, client: _Peer, status: int, title: str, lines: list[str], method: bytes = b"GET") -> None:
        """Send an error page (no body for HEAD) and end the exchange; the connection then closes."""
        headers, body = _page(status, title, lines)
        try:
            events: list[Any] = [h11.Response(status_code=status, headers=headers)]
            if method != b"HEAD":
                events.append(h11.Data(data=body))
            await client.send(*events, h11.EndOfMessage())
        except (OSError, h11.LocalProtocolError):
            pass


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until end of file, then half-close ``writer``."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


async def _head(server: _Peer) -> h11.Response:
    """The server's final answer head (1xx answers are skipped)."""
    while True:
        event = await server.next_event()
        if isinstance(event, h11.Response):
            return event
        if not isinstance(event, h11.InformationalResponse):
            raise _ServerError("the server closed the connection without answering")
