"""The browser's actions as typed tools, the way an agent (or an env) offers them to a planner.

Each tool calls the matching :class:`~lma.tools.browser.BrowserSession` method, which never
raises: failures come back as ``ToolResult(ok=False, error=...)``. ``answer(text)`` only returns
the text (in ``data["answer"]``): what finishing means is up to the env that offers it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from lma.core import ToolResult
from lma.tools.base import Tool, tool

if TYPE_CHECKING:
    from lma.tools.browser import BrowserSession

TOOL_NAMES = ("goto", "click", "type", "select", "press", "scroll", "back", "read", "answer")
MAX_TYPE = 2000  # characters one type() may type (maxLength in its schema; longer is refused up front)
MAX_URL = 8000  # characters of a goto() URL


def browser_tools(session: BrowserSession, names: Iterable[str] = TOOL_NAMES) -> list[Tool]:
    """The typed tools an agent uses on ``session``, in the order of ``names``."""

    @tool
    def goto(url: str) -> ToolResult:
        """Open a URL in the browser (only allowed sites; relative URLs resolve against the page)."""
        return session.goto(url)

    @tool
    def click(element: int) -> ToolResult:
        """Click the element with this id (ids are shown as [id] in the observation)."""
        return session.click(element)

    @tool(name="type")
    def type_(element: int, text: str) -> ToolResult:
        """Replace the text in an input element with this text, typed key by key."""
        return session.type(element, text)

    @tool
    def select(element: int, option: str) -> ToolResult:
        """Choose the option with this visible text in a list (combobox) element."""
        return session.select(element, option)

    @tool
    def press(key: str) -> ToolResult:
        """Press a key on the focused element, e.g. Enter, Tab, ArrowDown, Control+a."""
        return session.press(key)

    @tool
    def scroll(dx: int = 0, dy: int = 0) -> ToolResult:
        """Scroll the page by dx, dy pixels (positive dy scrolls down)."""
        return session.scroll(dx, dy)

    @tool
    def back() -> ToolResult:
        """Go back to the previous page."""
        return session.back()

    @tool
    def read() -> ToolResult:
        """Read all the text of the page."""
        return session.read()

    @tool
    def answer(text: str) -> ToolResult:
        """Give your final answer and finish the task."""
        return ToolResult(output=text, data={"answer": text})

    goto.parameters["properties"]["url"]["maxLength"] = MAX_URL
    type_.parameters["properties"]["text"]["maxLength"] = MAX_TYPE
    type_.description += f" At most {MAX_TYPE} characters."
    made = {t.name: t for t in (goto, click, type_, select, press, scroll, back, read, answer)}
    unknown = [n for n in names if n not in made]
    if unknown:
        raise ValueError(f"unknown browser tools {unknown}; known: {list(made)}")
    return [made[n] for n in names]
