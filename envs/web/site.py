"""lma's own multi-page sites: the server side (pages from templates, state a checker reads).

A site is a folder of package data under ``envs/web/sites/<name>/``: HTML templates with
``{{key}}`` slots (``layout.html`` wraps every page) plus the CSS and JS it serves under
``/static/``. A :class:`SiteEnv` subclass generates a seeded world in ``_build(rng)``, answers
requests in ``handle(request)`` and keeps whatever the task checker needs (orders placed, edits
published) on the server, where the agent cannot fake it. Every episode starts on ``/``.

The helpers here are for scripted experts, which read the same observation the agent gets:
:func:`find` an element by role and label, :func:`click_on` it, :func:`value_of` the value the walker
saw in a field, and :func:`fill` a form.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

from lma.core import ToolCall, ToolResult
from lma.envs.web.base import BrowserEnv, Verdict
from lma.envs.web.server import LoopbackServer, Request, Response

SITES = Path(__file__).with_name("sites")
_ASSET_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


class SiteEnv(BrowserEnv):
    """A task on one of lma's sites; subclasses set ``site`` and implement the hooks below."""

    site: str = ""

    def __init__(self, **kwargs: Any):
        self.folder = SITES / self.site
        self._templates: dict[str, str] = {}
        self.ready = False  # no world until the first reset
        super().__init__(**kwargs)

    # -- hooks -------------------------------------------------------------------------------
    def _build(self, rng: np.random.Generator) -> str:
        """Make the episode's world and task from ``rng``; return the goal in words."""
        raise NotImplementedError

    def handle(self, request: Request) -> Response | None:
        """Answer a request for a page or a form (None: not found)."""
        raise NotImplementedError

    def _judge_state(self, call: ToolCall, result: ToolResult) -> Verdict:
        """Judge from the server's state (and an ``answer`` call's text)."""
        raise NotImplementedError

    # -- the BrowserEnv hooks ------------------------------------------------------------------
    def _make_server(self) -> LoopbackServer:
        return LoopbackServer(app=self._serve)

    def _serve(self, request: Request) -> Response | None:
        if request.path.startswith("/static/"):
            name = request.path.removeprefix("/static/")
            path = self.folder / name
            if "/" in name or path.suffix not in _ASSET_TYPES or not path.is_file():
                return Response("not found", status=404, content_type="text/plain")
            return Response(path.read_bytes(), content_type=_ASSET_TYPES[path.suffix])
        if not self.ready:
            return Response("no episode yet", status=503, content_type="text/plain")
        return self.handle(request) or Response(self.page("Not found", "<h1>Page not found</h1>"), status=404)

    def _begin(self, seed: int) -> str:
        goal = self._build(np.random.default_rng(seed))
        self.ready = True
        self.session.load(self.server.url("/"), viewport=self.viewport)
        return goal

    def _judge(self, call: ToolCall, result: ToolResult) -> Verdict:
        return self._judge_state(call, result)

    # -- pages -------------------------------------------------------------------------------
    def template(self, name: str, /) -> str:
        if name not in self._templates:
            self._templates[name] = (self.folder / name).read_text()
        return self._templates[name]

    def format(self, name: str, /, **slots: Any) -> str:
        """Template ``name`` with ``{{key}}`` replaced by ``slots[key]`` (already HTML).

        Not ``render``: that is Gymnasium's, the last frame (see :class:`lma.envs.base.ToolEnv`).
        """
        return re.sub(r"\{\{(\w+)\}\}", lambda m: str(slots.get(m.group(1), "")), self.template(name))

    def page(self, title: str, body: str, /, **slots: Any) -> str:
        """A whole page: ``layout.html`` around ``body``."""
        return self.format("layout.html", title=esc(title), body=body, **slots)


def path_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def find(elements: list[dict[str, Any]], role: str | None = None, label: str | None = None) -> int | None:
    """The id of the first element with this role and label (exact), or None."""
    for e in elements:
        if (role is None or e["role"] == role) and (label is None or e["label"] == label):
            return int(e["id"])
    return None


def click_on(elements: list[dict[str, Any]], role: str, label: str) -> ToolCall:
    """A click on the element with this role and label; raises if the page has none."""
    element = find(elements, role, label)
    if element is None:
        raise RuntimeError(f"the page has no {role} {label!r}")
    return ToolCall("click", {"element": element})


def value_of(elements: list[dict[str, Any]], element: int | None) -> str:
    """The value (or selected option) the walker saw in ``element``; "" if none."""
    for e in elements:
        if e["id"] == element:
            found = re.search(r'(?:value|selected)=("(?:[^"\\]|\\.)*")', e.get("state", ""))
            return json.loads(found.group(1)) if found else ""
    return ""


def fill(elements: list[dict[str, Any]], fields: list[tuple[str, str, str]]) -> ToolCall | None:
    """The next call that makes a form hold ``fields`` ((role, label, value)), or None when it does."""
    for role, label, value in fields:
        element = find(elements, role, label)
        if element is None or value_of(elements, element) == value:
            continue
        if role == "combobox":
            return ToolCall("select", {"element": element, "option": value})
        return ToolCall("type", {"element": element, "text": value})
    return None


def normalize(text: str) -> str:
    """Casefolded, punctuation-free, single-spaced text; numbers lose their thousands separators."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", str(text).casefold())
    text = re.sub(r"[^\w\s.]", " ", text).replace(". ", " ").rstrip(".")
    return " ".join(text.split())
