"""Where the browser may go: an origin allowlist, enforced on every request Chromium makes.

The threat is the page, not the user: page text can tell the agent to visit another site, and page
code can navigate, redirect, open tabs, submit forms or fetch from elsewhere. So the allowlist is
checked by the browser session itself, never left to the agent:

* :meth:`OriginPolicy.check` refuses every URL whose scheme is not http(s)/ws(s) (``data:``,
  ``javascript:``, ``file:``, ``chrome:`` ...) and every origin not on the list; ``about:blank``
  and same-origin ``blob:`` URLs are allowed;
* :class:`Guard` routes *every* request of a browser context (pages, popups, iframes,
  subresources, fetch/XHR, form posts, WebSockets) through the policy. Playwright does not route
  the hops of an HTTP redirect, so allowed requests are fetched with redirects off and each
  ``Location`` is checked before anything follows it.

Every refusal is kept (a :class:`Refusal` in ``Guard.refusals``) and the session reports it in the
tool result of the step that caused it. An allowlist entry is a host (``127.0.0.1`` allows every
port of that host, http and https) or an origin with a port (``http://127.0.0.1:8000``).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lma.registry import LmaError

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_NETWORK_SCHEMES = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_ALWAYS_ALLOWED = ("about:blank", "about:srcdoc")
MAX_REDIRECTS = 10


class BadOriginError(LmaError):
    """An allowlist entry that is not a host or an origin."""


@dataclass(frozen=True)
class Refusal:
    """One request the policy refused: what, why, and which kind of request it was."""

    url: str
    reason: str
    kind: str = "request"
    at: float = 0.0

    def __str__(self) -> str:
        return f"refused {self.kind} to {self.url[:200]}: {self.reason}"


def _host_port(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme.lower(), host, port


class OriginPolicy:
    """An origin allowlist; ``check(url)`` says why a URL is refused, or None if it is allowed."""

    def __init__(self, allow: Iterable[str] = LOOPBACK):
        self.hosts: set[str] = set()
        self.origins: set[tuple[str, str, int]] = set()
        for entry in allow:
            self.allow(entry)

    def allow(self, entry: str) -> None:
        """Add a host (``localhost``) or an origin (``http://127.0.0.1:8000``)."""
        entry = entry.strip().rstrip("/")
        if "://" not in entry:
            if not entry or "/" in entry:
                raise BadOriginError(f"not a host or origin: {entry!r}")
            self.hosts.add(entry.lower())
            return
        self.origins.add(self._origin_key(entry))

    def disallow(self, entry: str) -> None:
        """Remove an entry added by :meth:`allow` (no error if absent)."""
        entry = entry.strip().rstrip("/")
        if "://" not in entry:
            self.hosts.discard(entry.lower())
        else:
            self.origins.discard(self._origin_key(entry))

    @staticmethod
    def _origin_key(entry: str) -> tuple[str, str, int]:
        scheme, host, port = _host_port(entry)
        if scheme not in ("http", "https") or not host or port == -1:
            raise BadOriginError(f"not an http(s) origin: {entry!r}")
        return scheme, host, port or _NETWORK_SCHEMES[scheme]

    def check(self, url: str) -> str | None:
        """None if ``url`` may be loaded, else a one-line reason."""
        if url in _ALWAYS_ALLOWED:
            return None
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "blob":
            return self.check(url[len("blob:"):])
        if scheme not in _NETWORK_SCHEMES:
            return f"the {scheme or 'relative'}: scheme is not allowed" if scheme else "not an absolute URL"
        _, host, port = _host_port(url)
        if port == -1 or not host:
            return "malformed URL"
        if host in self.hosts:
            return None
        http_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        if (http_scheme, host, port or _NETWORK_SCHEMES[scheme]) in self.origins:
            return None
        return "origin not on the allowlist"

    def allows(self, url: str) -> bool:
        return self.check(url) is None

    def describe(self) -> str:
        entries = sorted(self.hosts) + sorted(f"{s}://{h}:{p}" for s, h, p in self.origins)
        return ", ".join(entries) or "(nothing)"


class Guard:
    """Routes every request and WebSocket of a Playwright browser context through a policy.

    Refused requests are kept in ``refusals``. Allowed requests are fetched here with redirects
    off: a redirect to a refused URL is refused; a subresource's allowed redirect chain is
    followed hop by hop (each hop checked); a navigation's allowed redirect is cancelled and kept
    in ``redirects`` as ``(frame, url)`` so that the session navigates there itself, which routes
    (and checks) that request again. Playwright would otherwise follow redirects unrouted. A
    navigation whose server cannot be reached or does not answer in time is cancelled (the tab
    keeps its page, no error page) and described in ``failures``.
    """

    def __init__(self, policy: OriginPolicy, timeout_ms: float = 15_000):
        self.policy, self.timeout_ms = policy, timeout_ms
        self.refusals: list[Refusal] = []
        self.redirects: list[tuple[Any, str]] = []
        self.failures: list[str] = []  # navigations to allowed URLs that could not be loaded

    def install(self, context: Any) -> None:
        context.route("**/*", self._on_request)
        context.route_web_socket("**/*", self._on_websocket)

    def refuse(self, url: str, reason: str, kind: str) -> None:
        self.refusals.append(Refusal(url, reason, kind, time.time()))

    def _on_request(self, route: Any) -> None:
        request = route.request
        is_document = request.resource_type == "document"
        # "aborted" cancels a navigation without committing an error page: the tab stays put.
        abort_code = "aborted" if is_document else "blockedbyclient"
        reason = self.policy.check(request.url)
        if reason:
            self.refuse(request.url, reason, "navigation" if is_document else request.resource_type)
            route.abort(abort_code)
            return
        url, method, post = request.url, request.method, request.post_data_buffer
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = route.fetch(url=url, method=method, post_data=post, max_redirects=0,
                                       timeout=self.timeout_ms)
            except Exception as exc:  # unreachable or too slow: the page sees a failed request
                reason = _failure_reason(str(exc), self.timeout_ms)
                if is_document:  # a failed navigation is cancelled: the tab keeps its page
                    self.failures.append(f"could not load {url[:200]}: {reason}")
                try:
                    route.abort("aborted" if is_document else "failed")
                except Exception:  # the page gave up on this request already
                    pass
                return
            location = response.headers.get("location")
            if not (300 <= response.status < 400 and location):
                route.fulfill(response=response)
                return
            target = urllib.parse.urljoin(url, location)
            reason = self.policy.check(target)
            if reason:
                self.refuse(target, reason, "redirect")
                route.abort(abort_code)
                return
            if is_document:
                self.redirects.append((request.frame, target))
                route.abort("aborted")
                return
            if response.status in (301, 302, 303):
                method, post = "GET", None
            url = target
        self.refuse(url, f"more than {MAX_REDIRECTS} redirects", "redirect")
        route.abort(abort_code)

    def _on_websocket(self, ws: Any) -> None:
        reason = self.policy.check(ws.url)
        if reason:
            self.refuse(ws.url, reason, "websocket")
            ws.close(code=1008, reason="blocked by the lma allowlist")
        else:
            ws.connect_to_server()


def _failure_reason(message: str, timeout_ms: float) -> str:
    if "ECONNREFUSED" in message:
        return "connection refused"
    if "Timeout" in message:
        return f"no answer within {timeout_ms / 1000:g}s"
    return message.strip().splitlines()[0][:200] if message.strip() else "request failed"
