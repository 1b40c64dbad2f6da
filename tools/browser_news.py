"""What an action's result says about the network: refusals and failed loads, named for the agent.

The proxy decides (:mod:`lma.tools.browser_proxy`) but sees little: a plain HTTP request's URL,
and of a tunnel (https, ws, wss) only ``host:port``. Playwright sees more of what pages do (each
request's URL and kind, redirects, WebSockets) but decides nothing. :class:`News` joins the two
for the report: a refusal of ``127.0.0.1:9:`` becomes ``refused websocket to ws://127.0.0.1:9/ws``
when the page just opened that WebSocket. A refusal Playwright never saw (a shared worker's
request, one Chromium made itself) is reported as the proxy saw it. Nothing here allows anything.

Chromium's own verdicts on navigations are added to the ledger too: more than
:data:`~lma.tools.browser_safety.MAX_REDIRECTS` redirects is a refusal; an invalid redirect
(an unparsable ``Location``) or another network error is a failed load.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from lma.tools.browser_safety import MAX_REDIRECTS, BadUrl, Failure, Ledger, Refusal, split_url

_SEEN = 2000  # URLs remembered for naming refusals
# Chromium errors the proxy already explains (its own refusal or failure) or that are not failures.
_NOT_NEWS = ("ERR_ABORTED", "ERR_TUNNEL_CONNECTION_FAILED", "ERR_BLOCKED_BY_CLIENT")


class News:
    """Collects, names and hands out (once each) the ledger's entries; see the module docstring."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self._kinds: OrderedDict[str, str] = OrderedDict()  # url -> kind
        self._endpoints: dict[str, str] = {}  # host:port -> the latest url seen for it
        self._refusals = self._failures = 0

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
            self._endpoints[split_url(url).authority] = url
        except BadUrl:
            pass

    # -- what the agent is told --------------------------------------------------------------
    def named(self, refusal: Refusal) -> Refusal:
        """A proxy's ``refusal`` with the URL and kind Playwright saw for it, where it saw one."""
        if refusal.kind not in ("request", "connection"):  # the session's own entries say what they are
            return refusal
        url = self._endpoints.get(refusal.url, refusal.url) if refusal.kind == "connection" else refusal.url
        kind = self._kinds.get(url)
        if kind is None:
            return refusal
        return type(refusal)(url, refusal.reason, kind, refusal.at)

    def take(self) -> tuple[list[Refusal], list[Failure]]:
        """The refusals and the failed navigations recorded since the last call, named."""
        refusals = self.ledger.refusals[self._refusals:]
        failures = self.ledger.failures[self._failures:]
        self._refusals += len(refusals)
        self._failures += len(failures)
        named = [self.named(f) for f in failures]
        return [self.named(r) for r in refusals], [f for f in named if f.kind in ("navigation", "redirect", "document")]

    def pending(self) -> bool:
        """Whether anything was refused or failed since the last :meth:`take`."""
        return len(self.ledger.refusals) > self._refusals or len(self.ledger.failures) > self._failures
