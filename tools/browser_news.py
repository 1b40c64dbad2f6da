"""What an action's result says about the network: refusals and failed loads, named for the agent.

The proxy decides (:mod:`lma.tools.browser_proxy`) but sees little: a plain HTTP request's URL,
and of a tunnel (https, ws, wss) only ``host:port``. Playwright sees more of what pages do (each
request's URL and kind, redirects, WebSockets) but decides nothing. :class:`News` joins the two
for the report: a refused tunnel to ``127.0.0.1:9`` becomes ``refused websocket to
ws://127.0.0.1:9/ws`` when the page had just opened that WebSocket (tunnels to one endpoint are
matched to the URLs seen for it during the same action, in order: a best match, where the
endpoint is the proxy's fact). A refusal Playwright never saw (a shared
worker's request, one Chromium made itself) is reported as the proxy saw it. Nothing here allows
or refuses anything.

Chromium's own verdicts on navigations are added to the ledger too: more than
:data:`~lma.tools.browser_safety.MAX_REDIRECTS` redirects is a refusal; an invalid redirect
(an unparsable ``Location``) or another network error is a failed load.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Any, TypeVar

from lma.tools.browser_safety import (
    MAX_REDIRECTS,
    BadUrl,
    Failure,
    Ledger,
    Refusal,
    split_url,
)

E = TypeVar("E", bound=Refusal)
_SEEN = 2000  # URLs remembered for naming
_TUNNELLED = ("https", "ws", "wss")
# Chromium errors the proxy already explains (its own refusal or failure) or that are no failure.
_NOT_NEWS = ("ERR_ABORTED", "ERR_TUNNEL_CONNECTION_FAILED", "ERR_BLOCKED_BY_CLIENT")
_NAVIGATIONS = ("navigation", "redirect")
# Tunnels Chromium opens by itself whatever the page does: its IdentityManager lists the Google
# accounts in the cookie jar once its network is up, and retries with back-off, and no switch or
# preference stops it. They are refused like any other and kept in the ledger, but they are not
# news of the agent's action (they would land on whichever action was running).
_BROWSER_OWN = frozenset({"accounts.google.com:443"})


class News:
    """Collects, names and hands out (once each) the ledger's entries; see the module docstring."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self._kinds: OrderedDict[str, str] = OrderedDict()  # url -> kind
        self._tunnels: dict[str, deque[str]] = {}  # host:port -> URLs seen that go through a tunnel
        self._refusals: list[Refusal] = []  # ledger.refusals, named (each named once)
        self._failures: list[Failure] = []
        self._taken = (0, 0)
        self._lock = threading.Lock()  # naming consumes the tunnel queues: once per entry

    # -- what Playwright saw (called on the browser thread) ----------------------------------
    def saw_request(self, request: Any) -> None:
        if request.redirected_from is not None:
            kind = "redirect"
        elif request.is_navigation_request():
            kind = "navigation"
        else:
            kind = request.resource_type
        self._remember(request.url, kind)

    def saw_websocket(self, websocket: Any) -> None:
        self._remember(websocket.url, "websocket")

    def saw_failure(self, request: Any) -> None:
        """A request Chromium gave up on: record the navigations that the proxy cannot explain."""
        error = request.failure or ""
        if not request.is_navigation_request() or any(code in error for code in _NOT_NEWS):
            return
        url = request.url.split("#", 1)[0]
        if "ERR_TOO_MANY_REDIRECTS" in error:
            self.ledger.refuse(url, f"more than {MAX_REDIRECTS} redirects", "redirect")
        elif "ERR_INVALID_REDIRECT" in error or "ERR_UNSAFE_REDIRECT" in error:
            self.ledger.fail(url, "its redirect does not lead to a URL that may be loaded", "navigation")
        else:
            self.ledger.fail(url, error.removeprefix("net::"), "navigation")

    def _remember(self, url: str, kind: str) -> None:
        url = url.split("#", 1)[0]
        self._kinds[url] = kind
        self._kinds.move_to_end(url)
        while len(self._kinds) > _SEEN:
            self._kinds.popitem(last=False)
        try:
            target = split_url(url)
        except BadUrl:
            return
        if target.scheme in _TUNNELLED:
            self._tunnels.setdefault(target.authority, deque(maxlen=64)).append(url)

    # -- what the agent is told --------------------------------------------------------------
    def _name(self, entry: E) -> E:
        """A proxy's entry with the URL and kind Playwright saw for it, where it saw one."""
        if entry.kind not in ("request", "connection"):  # the session's own entries say what they are
            return entry
        url = entry.url
        if entry.kind == "connection" and self._tunnels.get(url):
            url = self._tunnels[url].popleft()
        kind = self._kinds.get(url, entry.kind)
        return type(entry)(url, entry.reason, kind, entry.at)

    def _catch_up(self) -> None:
        with self._lock:
            self._refusals += [self._name(r) for r in self.ledger.refusals[len(self._refusals):]]
            self._failures += [self._name(f) for f in self.ledger.failures[len(self._failures):]]

    @property
    def refusals(self) -> list[Refusal]:
        """Every refusal so far, named."""
        self._catch_up()
        return list(self._refusals)

    def take(self) -> tuple[list[Refusal], list[Failure]]:
        """The refusals and the failed navigations recorded since the last call, named (less
        Chromium's own tunnels that Playwright never saw, :data:`_BROWSER_OWN`)."""
        self._catch_up()
        self._tunnels.clear()  # URLs seen during an action name only that action's refusals
        refused, failed = self._taken
        self._taken = (len(self._refusals), len(self._failures))
        news = [r for r in self._refusals[refused:] if not (r.kind == "connection" and r.url in _BROWSER_OWN)]
        return news, [f for f in self._failures[failed:] if f.kind in _NAVIGATIONS]

    def since(self, refusals: int, failures: int) -> list[Refusal]:
        """Refusals and failures (named) after the ledger held ``refusals`` and ``failures`` entries."""
        self._catch_up()
        return self._refusals[refusals:] + self._failures[failures:]
