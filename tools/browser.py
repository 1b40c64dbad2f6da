"""A browser an agent can use: Playwright driving the system Chromium, with typed tools.

:class:`BrowserSession` is one Chromium (``/usr/bin/chromium``, never a downloaded browser) with
one tab. What an agent sees after every action (:meth:`BrowserSession.observe`): the URL, the
title, the elements it can act on, each with a stable integer id (``[12] button "Submit"``), and a
screenshot; ``obs["data"]["elements"]`` holds ``{"id", "box": [x0, y0, x1, y1], "role", "label"}``
per element, boxes in screenshot pixels, for set-of-marks overlays. Ids are assigned in the page
(attribute ``data-lma-id``, see ``browser_marks.js``): an element keeps its id while it exists and
ids are never reused within a session, so a stale id is reported as gone, not silently retargeted.

What an agent can do (:meth:`BrowserSession.tools`): ``goto(url)``, ``click(element)``,
``type(element, text)``, ``select(element, option)``, ``press(key)``, ``scroll(dx, dy)``,
``back()``, ``read()`` and ``answer(text)``. Every action returns a :class:`ToolResult` and never
raises: a closed browser, a vanished element id, an unreachable page or one that never finishes
loading come back as ``ok=False`` with a one-line ``error``.

Safety: Chromium's only way out is the session's egress proxy (:mod:`lma.tools.browser_proxy`),
which applies the origin allowlist (default: loopback; :mod:`lma.tools.browser_safety`) to every
connection, whoever opens it; refusals are reported in the result of the action during which they
happened (:mod:`lma.tools.browser_news`) and kept in :attr:`BrowserSession.refusals`. Downloads
are off, service workers blocked, new tabs closed (an allowed one is opened in the session's tab
instead). What the page wrote is marked as the page's in what the planner reads. Lifecycle: see
:mod:`lma.tools.browser_process`; use the session as a context manager or call :meth:`close`.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from lma.core import Observation, ToolResult
from lma.tools.base import Tool
from lma.tools.browser_marks import PAGE_TEXT, describe, mark_page, public_elements, screenshot
from lma.tools.browser_news import News
from lma.tools.browser_process import (
    BrowserConfig, BrowserError, Worker, find_browser, kill_group, launch, make_profile_dir, track, untrack,
)
from lma.tools.browser_proxy import EgressProxy
from lma.tools.browser_safety import BadUrl, Ledger, OriginPolicy, Refusal, agent_url
from lma.tools.browser_tools import MAX_TYPE, TOOL_NAMES

TYPE_SECONDS_PER_KEY = 0.05  # patience per key typed, on top of the action timeout (a key is a round trip
# to Chromium: about 10 ms on an idle 2-core machine without AVX-512, more under load)

_SHARED: dict[str, BrowserSession] = {}
_SHARED_LOCK = threading.Lock()


def shared_session() -> BrowserSession:
    """This process's shared session (allowing nothing until envs add their origins).

    Envs made with ``session="shared"`` use it one after another, which saves a browser start
    (about a second) per episode; it is closed (killed) when Python exits. It is replaced if closed.
    """
    with _SHARED_LOCK:
        session = _SHARED.get("session")
        if session is None or session.closed:
            session = _SHARED["session"] = BrowserSession(allow=())
        return session


class BrowserSession:
    """One Chromium with one tab; see the module docstring. Started on first use."""

    def __init__(self, config: BrowserConfig | None = None, **overrides: Any):
        self.config = replace(config or BrowserConfig(), **overrides)
        self.policy = OriginPolicy(self.config.allow)
        self.ledger = Ledger()
        self.news = News(self.ledger)
        # The proxy gives up on a silent server a little before a navigation times out, so that
        # the page gets an answer that says why rather than a navigation that times out.
        self.proxy = EgressProxy(self.policy, self.ledger, timeout=self.config.navigation_timeout * 0.8)
        self.pid: int | None = None
        self._worker: Worker | None = None
        self._marker = f"--lma-session={uuid.uuid4().hex}"
        self._pw: Any = None
        self._context: Any = None
        self._page: Any = None
        self._connected = False
        self.profile_dir: str | None = None
        self._next_id = 1
        self._frames: dict[int, list[int]] = {}
        self._points: dict[int, list[float]] = {}
        # The last observation's elements with everything the walker found (state: value,
        # checked, selected, disabled, focused), for env code such as scripted experts.
        self.elements: list[dict[str, Any]] = []
        self._popups: list[Any] = []
        self._navigating: set[Any] = set()
        self._notes: list[str] = []
        self.closed = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> BrowserSession:
        if self.closed:
            raise BrowserError("the browser is closed")
        if self._worker is None:
            self._worker = Worker(f"lma-browser-{self._marker[-8:]}")
            track(self)
            try:
                self._worker.call(self._launch, self.config.navigation_timeout + 30)
            except Exception as exc:
                self.close()
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise BrowserError(f"could not start Chromium at {self.config.executable_path}: {first}") from None
        return self

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright

        self.proxy.start()
        self._pw = sync_playwright().start()
        self.profile_dir = make_profile_dir()
        self._context = launch(self._pw, self.config, self.profile_dir, self._marker, self.proxy.port)
        self.pid = find_browser(self._marker)
        self._context.on("close", lambda _: setattr(self, "_connected", False))
        self._connected = True
        self._context.set_default_timeout(self.config.action_timeout * 1000)
        self._context.set_default_navigation_timeout(self.config.navigation_timeout * 1000)
        self._context.on("page", self._on_page)
        self._context.on("request", self._on_request)
        self._context.on("requestfinished", lambda r: self._navigating.discard(r))
        self._context.on("requestfailed", self._on_request_failed)
        self._page = self._context.pages[0] if self._context.pages else self._context.new_page()
        self._page.on("websocket", self.news.saw_websocket)
        self._page.on("dialog", self._on_dialog)
        self._page.on("download", lambda d: self.ledger.refuse(d.url, "downloads are off", "download"))

    def _on_page(self, page: Any) -> None:
        if page is not self._page:  # a new tab: closed in _settle
            page.on("websocket", self.news.saw_websocket)
            self._popups.append(page)

    def _on_request(self, request: Any) -> None:
        self.news.saw_request(request)
        if request.is_navigation_request():  # in the tab, a frame, or a new tab (handled in _settle)
            self._navigating.add(request)

    def _on_request_failed(self, request: Any) -> None:
        self.news.saw_failure(request)
        self._navigating.discard(request)

    def _on_dialog(self, dialog: Any) -> None:
        self._notes.append(f"the page showed a {dialog.type} dialog: {dialog.message[:200]!r} (accepted)")
        dialog.accept()

    def close(self) -> None:
        """Close the browser; kill its process group if it does not go quietly. Idempotent."""
        if self.closed:
            return
        self.closed = True
        worker, self._worker = self._worker, None
        if worker is not None and worker.alive:
            try:
                worker.call(self._shutdown, 10.0)
            except Exception:
                pass
            worker.stop()
        kill_group(self.pid)
        self.proxy.close()
        if self.profile_dir:
            shutil.rmtree(self.profile_dir, ignore_errors=True)
        untrack(self)

    def _shutdown(self) -> None:
        for step in (lambda: self._context and self._context.close(), lambda: self._pw and self._pw.stop()):
            try:
                step()
            except Exception:
                pass

    def __enter__(self) -> BrowserSession:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return not self.closed and self._connected

    # -- running things on the browser thread ----------------------------------------------
    def _run(self, fn: Any, extra: float = 0.0) -> Any:
        self.start()
        assert self._worker is not None
        limit = self.config.navigation_timeout * 2 + self.config.action_timeout + 10 + extra
        try:
            return self._worker.call(fn, limit)
        except BrowserError as exc:
            if "did not answer" in str(exc):
                self.close()
            raise

    def _action(self, name: str, fn: Any, extra: float = 0.0) -> ToolResult:
        """Run one agent action on the browser thread (``extra`` seconds more patience); never raises."""
        if self.closed:
            return ToolResult(ok=False, error=f"{name}: the browser is closed")

        def body() -> ToolResult:
            try:
                result = fn()
            except Exception as exc:
                result = ToolResult(ok=False, error=f"{name}: {_one_line(exc)}")
            if not self.alive:
                return ToolResult(ok=False, error=f"{name}: the browser is closed")
            self._settle()
            return self._with_news(result if isinstance(result, ToolResult) else ToolResult(output=str(result)))

        try:
            return self._run(body, extra)
        except Exception as exc:
            return ToolResult(ok=False, error=f"{name}: {_one_line(exc)}")

    def _settle(self) -> None:
        """After an action: let navigations it started arrive, handle new tabs, and wait for the
        page to load."""
        page = self._page
        try:  # one turn of the page's task queue: a form submit or a script's navigation starts
            page.evaluate("() => new Promise(r => setTimeout(r, 0))")
        except Exception:
            pass
        deadline = time.monotonic() + self.config.navigation_timeout
        while self._navigating and time.monotonic() < deadline:
            page.wait_for_timeout(10)
        self._navigating.clear()  # what is still pending now is the page's business, not this action's
        while self._popups:
            popup = self._popups.pop(0)
            try:
                popup.wait_for_load_state("domcontentloaded", timeout=2000)
            except Exception:
                pass
            url = popup.url
            popup.close()
            if url in ("", "about:blank") or not self.policy.allows(url):
                self._notes.append("a new tab was closed")
                continue
            self._notes.append(f"a new tab for {url} was opened in this tab instead")
            try:
                page.goto(url, wait_until="load")
            except Exception as exc:
                self._notes.append(f"{url}: {_one_line(exc)}")
        try:
            page.wait_for_load_state("load", timeout=self.config.navigation_timeout * 1000)
        except Exception:
            self._notes.append(f"the page was still loading after {self.config.navigation_timeout:g}s")

    def _with_news(self, result: ToolResult) -> ToolResult:
        refused, failed = self.news.take()
        news = [str(r) for r in refused] + [str(f) for f in failed] + self._notes
        self._notes = []
        if refused:
            result.data["refused"] = [r.url for r in refused]
        if news:
            joined = "; ".join(news)
            if result.ok:
                result.output = f"{result.output} [{joined}]" if result.output else f"[{joined}]"
            else:
                result.error = f"{result.error} [{joined}]"
        return result

    @property
    def refusals(self) -> list[Refusal]:
        """Every refusal so far, in order, named as the agent was told (see :mod:`lma.tools.browser_news`)."""
        return self.news.refusals

    def allow(self, entry: str) -> None:
        """Add a host or an origin to this session's allowlist."""
        self.policy.allow(entry)

    def disallow(self, entry: str) -> None:
        self.policy.disallow(entry)

    # -- elements ----------------------------------------------------------------------------
    def _locate(self, element: int) -> Any:
        scope = self._page
        for frame in self._frames.get(element, []):
            scope = scope.frame_locator(f'iframe[data-lma-frame="{frame}"]')
        locator = scope.locator(f'[data-lma-id="{int(element)}"]')
        if locator.count() == 0:
            raise LookupError(f"element {element} is not on the page any more; use an id from the latest observation")
        return locator.first

    # -- the agent's actions --------------------------------------------------------------
    def goto(self, url: str) -> ToolResult:
        def run() -> ToolResult:
            try:
                target = agent_url(self._page.url, url)
            except BadUrl as exc:
                return ToolResult(ok=False, error=f"goto: {exc}")
            reason = self.policy.check(target)  # refused here, the tab stays on its page
            if reason:
                self.ledger.refuse(target, f"{reason} (allowed: {self.policy.describe()})", "goto")
                return ToolResult(ok=False, error="goto refused")
            refusals, failures = len(self.ledger.refusals), len(self.ledger.failures)
            try:
                response = self._page.goto(target, wait_until="load")
            except Exception as exc:
                self._await_error_page(exc)
                raise
            if response is not None and response.status >= 400:
                if any(entry.url == response.url for entry in self.news.since(refusals, failures)):  # the proxy's page
                    return ToolResult(ok=False, error=f"goto: {target[:200]} was not loaded")
                return ToolResult(ok=False, error=f"goto: {target[:200]} answered HTTP {response.status}")
            return ToolResult(output=f"went to {self._page.url}")

        return self._action("goto", run)

    def _await_error_page(self, exc: Exception) -> None:
        """After a navigation failed with a network error, let Chromium commit its error page, which
        it does a moment later: otherwise that commit interrupts the next navigation."""
        if "net::ERR_" not in str(exc) or "ERR_ABORTED" in str(exc):
            return
        try:
            self._page.wait_for_url(lambda url: url.startswith("chrome-error:"), wait_until="load", timeout=2000)
        except Exception:
            pass

    def click(self, element: int) -> ToolResult:
        def run() -> str:
            target, point = self._locate(element), self._points.get(element)
            if target.is_disabled():
                raise ValueError(f"element {element} is disabled")
            position = {"x": point[0], "y": point[1]} if point else None
            patience = min(1.0, self.config.action_timeout) * 1000
            try:
                target.click(position=position, timeout=patience)
            except Exception as exc:
                if "not stable" in str(exc):  # it never stops moving: click it where it is now
                    target.click(position=position, force=True)
                else:  # covered or still appearing: wait the rest of the action timeout
                    target.click(position=position, timeout=self.config.action_timeout * 1000 - patience)
            return f"clicked element {element}"

        return self._action("click", run)

    def type(self, element: int, text: str) -> ToolResult:
        """Type ``text`` key by key, all of it: refused up front if longer than :data:`MAX_TYPE`."""
        if len(text) > MAX_TYPE:
            return ToolResult(ok=False, error=f"type: {len(text)} characters is more than one action types "
                                              f"({MAX_TYPE}); type it in parts")
        patience = len(text) * TYPE_SECONDS_PER_KEY

        def run() -> str:
            target = self._locate(element)
            target.fill("")
            target.press_sequentially(text, timeout=(self.config.action_timeout + patience) * 1000)
            return f"typed {text[:200]!r}{'...' if len(text) > 200 else ''} into element {element}"

        return self._action("type", run, extra=patience)

    def select(self, element: int, option: str) -> ToolResult:
        def run() -> str:
            target = self._locate(element)
            options = target.evaluate("e => e.options && Array.from(e.options).map(o => [o.text.trim(), o.value])")
            if options is None:
                raise ValueError(f"element {element} is not a list to select from")
            for text, value in options:
                if option.strip() in (text, value):
                    target.select_option(value=value)
                    return f"selected {text!r} in element {element}"
            shown = json.dumps([text for text, _ in options[:30]], ensure_ascii=False)
            raise ValueError(f"no option {option!r} in element {element}; options: {shown}")

        return self._action("select", run)

    def press(self, key: str) -> ToolResult:
        return self._action("press", lambda: (self._page.keyboard.press(key), f"pressed {key}")[1])

    def scroll(self, dx: int = 0, dy: int = 0, element: int | None = None) -> ToolResult:
        def run() -> str:
            if element is not None:
                self._locate(element).hover()
            else:
                width, height = self.config.viewport
                self._page.mouse.move(width / 2, height / 2)
            self._page.mouse.wheel(dx, dy)
            self._page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            return f"scrolled by ({dx}, {dy})"

        return self._action("scroll", run)

    def back(self) -> ToolResult:
        def run() -> ToolResult:
            if self._page.go_back(wait_until="load") is None:
                return ToolResult(ok=False, error="back: there is no previous page")
            return ToolResult(output=f"went back to {self._page.url}")

        return self._action("back", run)

    def read(self) -> ToolResult:
        def run() -> str:
            text = self._page.evaluate("() => document.body ? document.body.innerText : ''")
            limit = self.config.max_text
            cut = text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"
            return f"{PAGE_TEXT}\n{cut}"

        return self._action("read", run)

    # -- observing -------------------------------------------------------------------------
    def evaluate(self, script: str, arg: Any = None) -> Any:
        """Evaluate JavaScript in the page for an env (never for model output); may raise."""
        return self._run(lambda: self._page.evaluate(script, arg))

    def load(self, url: str, viewport: tuple[int, int] | None = None) -> None:
        """Navigate for an env (not an agent action): raises :class:`BrowserError` if refused or failing.

        ``viewport`` resizes the tab first (envs sharing one session may want different sizes).
        """
        reason = self.policy.check(url)
        if reason:
            raise BrowserError(f"{url} is refused: {reason}")
        self._next_id = 1  # a new episode numbers its elements from 1 again: the same seed, the same ids

        def run() -> None:
            if viewport is not None and viewport != tuple(self._page.viewport_size.values()):
                self._page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
            self._page.goto(url, wait_until="load")
            self._settle()

        try:
            self._run(run)
        except BrowserError:
            raise
        except Exception as exc:
            raise BrowserError(f"could not load {url}: {_one_line(exc)}") from None

    def observe(self) -> Observation:
        """The page now: accessibility text with element ids, screenshot, and element boxes."""
        try:
            if self.closed:
                raise BrowserError("the browser is closed")
            return self._run(self._observe)
        except Exception as exc:
            return {"text": f"The browser cannot be observed: {_one_line(exc)}", "image": None,
                    "data": {"url": "", "title": "", "elements": [], "error": _one_line(exc)}}

    def _observe(self) -> Observation:
        if not self.alive:
            raise BrowserError("the browser is closed")
        marks = mark_page(self._page, self._next_id, self.config.max_elements)
        self._next_id = max(self._next_id, int(marks["next"]))
        elements = marks["elements"]
        self.elements = elements
        self._frames = {e["id"]: e["frame"] for e in elements}
        self._points = {e["id"]: e["point"] for e in elements}
        image = screenshot(self._page, self.config.action_timeout * 1000) if self.config.screenshot else None
        url = self._page.url
        data = {"url": url, "title": marks["title"], "elements": public_elements(elements)}
        return {"text": describe(url, marks["title"], elements), "image": image, "data": data}

    def tools(self, names: Iterable[str] = TOOL_NAMES) -> list[Tool]:
        """This session's actions as tools (see :func:`lma.tools.browser_tools.browser_tools`)."""
        from lma.tools.browser_tools import browser_tools

        return browser_tools(self, names)


def _one_line(exc: BaseException) -> str:
    """A Playwright error in one line: its first line, and the last reason its call log gives."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    first = lines[0].removeprefix("Error: ")
    reasons = [line.lstrip("- ")[:160] for line in lines[1:]
               if line.startswith("- element ") or line.endswith("intercepts pointer events")]
    return (first + (f" ({reasons[-1]})" if reasons else ""))[:300]
