"""Tools: what agents can do (protocol and ``@tool`` in :mod:`lma.tools.base`).

Env actions are tools, listed by ``env.unwrapped.tools``. The tool sets registered here can also
be offered to any agent or LangChain program on their own: ``lma.registry.tools.make("browser")``
returns a list of tools bound to a fresh session. LangChain tools are accepted wherever a tool is
(:func:`as_tool`).
"""

from __future__ import annotations

from typing import Any

from lma.registry import tools
from lma.tools.base import FunctionTool, LangChainTool, Tool, as_tool, tool, tool_call_schema, validate_call


def browser_tools(**config: Any) -> list[Tool]:
    """The browser tool set on a new Chromium session (``config``: BrowserConfig fields, e.g. ``allow``)."""
    from lma.tools.browser import BrowserSession

    return BrowserSession(**config).tools()


def gui_tools(display: Any = None, *, allow_host_display: bool = False) -> list[Tool]:
    """The GUI tool set on a display: a private lma display, or the real one only when allowed."""
    from lma.tools.gui import Screen
    from lma.tools.gui import gui_tools as make

    return make(Screen(display, allow_host_display=allow_host_display))


def search_tools(index: str, **options: Any) -> list[Tool]:
    """The multimodal ``search`` tool over an index folder made by ``lma search index``."""
    from lma.tools.search import search_tools as make

    return make(index, **options)


tools.register(
    "browser",
    browser_tools,
    description="Playwright on system Chromium: goto, click, type, select, press, scroll, back, read, answer; "
    "loopback-only origin allowlist",
)
def image_tools(**config: Any) -> list[Tool]:
    """The unCLIP image tools (generate, vary, interpolate, text diff) on one image workspace."""
    from lma.tools.image import image_tools as make

    return make(**config)


tools.register(
    "image",
    image_tools,
    description="unCLIP image tools: image_generate, image_vary, image_interpolate, image_text_diff "
    "(lma's small unCLIP, or Kandinsky 2.2 / Stable unCLIP from a local folder)",
)
tools.register(
    "gui",
    gui_tools,
    description="pyautogui on a private Xvfb display: click, double_click, right_click, drag, type, hotkey, "
    "scroll, screenshot",
)
tools.register(
    "search",
    search_tools,
    description="multimodal document search (Chroma, CLIP): a picture, a text, or a picture plus a change; "
    "colour and pattern filters",
)

__all__ = [
    "FunctionTool", "LangChainTool", "Tool", "as_tool", "browser_tools", "gui_tools", "search_tools", "tool",
    "tool_call_schema",
    "validate_call",
]
