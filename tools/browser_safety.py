"""Where the browser may go: an origin allowlist, one strict URL parser, and a ledger of refusals.

The threat is the page, not the user: page text can tell the agent to visit another site, and page
code can navigate, redirect, open tabs, fetch, or make Chromium send requests of its own. So the
allowlist is not checked in the page or by Playwright: it is applied by the session's egress
proxy (:mod:`lma.tools.browser_proxy`), Chromium's only way out, to the host and port each
connection really goes to. This module holds what that proxy decides with:

* :func:`split_url` / :func:`split_authority`: the one parser of hosts and ports. It is strict
  (lower-case names of letters, digits, dots and dashes, bracketed IPv6, decimal ports, no
  userinfo): anything else is refused, never guessed at. Chromium sends canonical URLs, so the
  strictness costs nothing there; an agent's ``goto`` URL is checked with the same parser first;
* :class:`OriginPolicy`: ``check(url)`` for URLs (scheme, host, port), ``check_endpoint`` for a
  tunnel, whose scheme the proxy cannot see (any allowed origin with that host and port allows it);
* :class:`Ledger`: every refusal and failed load, kept in order, from any thread; the session
  reports each one in the result of the action during which it happened.

An allowlist entry is a host (``127.0.0.1`` allows every port of that host, http and https) or an
origin with a port (``http://127.0.0.1:8000``).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from lma.registry import LmaError

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
MAX_REDIRECTS = 19  # Chromium follows this many; one more is net::ERR_TOO_MANY_REDIRECTS, reported as a refusal
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HTTP_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_ALWAYS_ALLOWED = ("about:blank", "about:srcdoc")
_URL = re.compile(r"([a-z][a-z0-9+.-]*)://([^/?#]*)(.*)", re.IGNORECASE | re.DOTALL)
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)


class BadOriginError(LmaError):
    """An allowlist entry that is not a host or an origin."""


class BadUrl(ValueError):
    """A URL or authority the strict parser does not accept; the message says why."""


@dataclass(frozen=True)
class Target:
    """A parsed absolute URL: lower-case ``scheme`` and ``host`` (IPv6 in brackets), a ``port``
    (the scheme's default if none was given) and ``rest`` (path, query; ``/`` when empty)."""

    scheme: str
    host: str
    port: int
    rest: str

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"


def split_authority(authority: str, default_port: int | None = None) -> tuple[str, int]:
    """``host:port`` -> (host, port); raises :class:`BadUrl` for anything not strictly a host."""
    if "@" in authority:
        raise BadUrl("user names in URLs are not allowed")
    host, port_text = authority, ""
    if authority.startswith("["):
        end = authority.find("]")
        host, port_text = authority[: end + 1], authority[end + 1:]
        if end < 0 or (port_text and not port_text.startswith(":")):
            raise BadUrl("malformed IPv6 host")
        port_text = port_text[1:]
    elif ":" in authority:
        host, port_text = authority.rsplit(":", 1)
    elif default_port is None:
        raise BadUrl("no port")
    host = host.lower()
    if not host or not (_NAME.fullmatch(host) or _IPV6.fullmatch(host)):
        raise BadUrl("malformed host" if host else "no host")
    if port_text == "" and default_port is not None and not authority.endswith(":"):
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise BadUrl("malformed port")
    return host, int(port_text)


def split_url(url: str) -> Target:
    """An absolute http(s)/ws(s) URL -> :class:`Target`; raises :class:`BadUrl` otherwise."""
    match = _URL.fullmatch(url)
    if not match:
        raise BadUrl("not an absolute URL")
    scheme = match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadUrl(f"the {scheme}: scheme is not allowed")
    host, port = split_authority(match.group(2), _DEFAULT_PORTS[scheme])
    rest = match.group(3)
    return Target(scheme, host, port, rest if rest.startswith("/") else "/" + rest)


def agent_url(here: str, url: str) -> str:
    """The absolute URL an agent's ``goto(url)`` means, resolved against the page at ``here``.

    Raises :class:`BadUrl` for an empty or blank URL, control characters (which browsers drop
    silently, so ``ht\\tp://`` would mean something else than it says), a relative URL on a tab
    that has no page, and an http(s) URL that :func:`split_url` refuses (``http://``, a user
    name, a malformed host or port): none of these may turn into a reload or a guess.
    """
    text = url.strip()
    if not text:
        raise BadUrl("the URL is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise BadUrl("the URL holds control characters")
    if not _SCHEME.match(text):
        if not here.startswith(("http://", "https://")):
            raise BadUrl(f"{text[:200]!r} is relative and the tab has no page to resolve it against")
        text = urllib.parse.urljoin(here, text)
    if text.split(":", 1)[0].lower() in _DEFAULT_PORTS:
        try:
            split_url(text)
        except BadUrl as exc:
            raise BadUrl(f"{text[:200]!r} is not a URL the browser may open: {exc}") from None
    return text


class OriginPolicy:
    """An origin allowlist; ``check(url)`` says why a URL is refused, or None if it is allowed.

    The entry sets are replaced, never changed in place, so the proxy thread can read them while
    a session adds or removes entries.
    """

    def __init__(self, allow: Iterable[str] = LOOPBACK):
        self.hosts: frozenset[str] = frozenset()
        self.origins: frozenset[tuple[str, str, int]] = frozenset()
        for entry in allow:
            self.allow(entry)

    def allow(self, entry: str) -> None:
        """Add a host (``localhost``) or an origin (``http://127.0.0.1:8000``)."""
        host, origin = self._entry(entry)
        if origin is None:
            self.hosts = self.hosts | {host}
        else:
            self.origins = self.origins | {origin}

    def disallow(self, entry: str) -> None:
        """Remove an entry added by :meth:`allow` (no error if absent)."""
        host, origin = self._entry(entry)
        if origin is None:
            self.hosts = self.hosts - {host}
        else:
            self.origins = self.origins - {origin}

    @staticmethod
    def _entry(entry: str) -> tuple[str, tuple[str, str, int] | None]:
        """(host, None) for a host entry, (host, (scheme, host, port)) for an origin."""
        entry = entry.strip().rstrip("/")
        try:
            if "://" not in entry:
                host, port = split_authority(entry, 0)
                if port:
                    raise BadUrl("a host entry has no port")
                return host, None
            target = split_url(entry)
        except BadUrl:
            raise BadOriginError(f"not a host or an http(s) origin: {entry!r}") from None
        if target.scheme not in ("http", "https") or target.rest != "/":
            raise BadOriginError(f"not an http(s) origin: {entry!r}")
        return target.host, (target.scheme, target.host, target.port)

    def check(self, url: str) -> str | None:
        """None if ``url`` may be loaded, else a one-line reason."""
        if url in _ALWAYS_ALLOWED:
            return None
        if url.lower().startswith("blob:"):
            return self.check(url[len("blob:"):])
        if not _SCHEME.match(url):
            return "not an absolute URL"
        scheme = url.split(":", 1)[0].lower()
        if scheme not in _DEFAULT_PORTS:
            return f"the {scheme}: scheme is not allowed"
        try:
            target = split_url(url)
        except BadUrl as exc:
            return str(exc)
        return self.check_endpoint(target.host, target.port, _HTTP_SCHEME[target.scheme])

    def check_endpoint(self, host: str, port: int, scheme: str | None = None) -> str | None:
        """None if a connection to ``host:port`` may be made for ``scheme`` (http or https; None
        for a tunnel, whose scheme is not visible), else why not."""
        if host in self.hosts:
            return None
        if scheme is None:
            allowed = any(h == host and p == port for _, h, p in self.origins)
        else:
            allowed = (scheme, host, port) in self.origins
        return None if allowed else "origin not on the allowlist"

    def allows(self, url: str) -> bool:
        return self.check(url) is None

    def describe(self) -> str:
        entries = sorted(self.hosts) + sorted(f"{s}://{h}:{p}" for s, h, p in self.origins)
        return ", ".join(entries) or "(nothing)"


@dataclass(frozen=True)
class Refusal:
    """One request the policy refused (or a load that failed): what, why, and what kind it was."""

    url: str
    reason: str
    kind: str = "request"
    at: float = 0.0

    def __str__(self) -> str:
        return f"refused {self.kind} to {self.url[:200]}: {self.reason}"


class Failure(Refusal):
    """An allowed load that failed: the server could not be reached or did not answer in time."""

    def __str__(self) -> str:
        return f"could not load {self.url[:200]}: {self.reason}"


class Ledger:
    """Refusals and failed loads, in the order they happened; appended to from any thread.

    The proxy writes what it refused (``kind`` "request" for a plain HTTP request, "connection"
    for a tunnel, whose URL it cannot see) and which allowed servers it could not reach; the
    session adds its own refusals (a ``goto``, a download) and what Chromium itself gave up on.
    """

    def __init__(self) -> None:
        self.refusals: list[Refusal] = []
        self.failures: list[Failure] = []

    def refuse(self, url: str, reason: str, kind: str = "request") -> None:
        self.refusals.append(Refusal(url, reason, kind, time.time()))

    def fail(self, url: str, reason: str, kind: str = "request") -> None:
        self.failures.append(Failure(url, reason, kind, time.time()))
