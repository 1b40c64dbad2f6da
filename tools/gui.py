"""GUI tools: mouse, keyboard and screenshots on one X display, through pyautogui.

:class:`Screen` is the target: a private :class:`lma.tools.display.VirtualDisplay` (the default and the
safe choice), or the user's real display only when ``allow_host_display=True`` is passed
explicitly; anything else raises :class:`GuiError`. :func:`gui_tools` returns the tool set an
agent or env offers: ``click``, ``double_click``, ``right_click``, ``drag``, ``type``, ``hotkey``,
``scroll`` and ``screenshot``. Coordinates are screen pixels, bounded by the screen size in each
tool's schema (so constrained decoders stay on screen, and an off-screen call is a failed result
that says so); key names are checked against ``pyautogui.KEYBOARD_KEYS``.

Why the binding dance: pyautogui opens its X connection from ``$DISPLAY`` when it is imported,
and keeps one per process. :meth:`Screen.pyautogui` sets ``DISPLAY``/``XAUTHORITY`` for the
import, and re-binds pyautogui's X11 backend (by reloading it) when a different display is
targeted, under one lock; so a process can drive several displays one after another, and never
the host display by accident. Screenshots use mss over XCB with the same credentials.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from lma.core import ToolResult
from lma.tools.display import VirtualDisplay, find_display
from lma.errors import LmaError
from lma.tools.base import Tool, tool

_LOCK = threading.RLock()  # pyautogui is one per process: one display at a time
_bound: tuple[str, str] | None = None  # (DISPLAY, XAUTHORITY) pyautogui's backend is connected to
MAX_TEXT, MAX_SCROLL = 1000, 50


class GuiError(LmaError):
    """A GUI target that may not or cannot be used (host display not allowed, no connection)."""


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Screen:
    """One X display that GUI actions and screenshots go to; see the module docstring."""

    def __init__(self, display: VirtualDisplay | str | None = None, *, allow_host_display: bool = False):
        if isinstance(display, VirtualDisplay):
            if not display.running:
                raise GuiError("the virtual display is not running")
            self.env = display.env
        else:
            name = display or os.environ.get("DISPLAY", "")
            private = find_display(name)
            if private is not None:
                self.env = private.env
            elif not allow_host_display:
                raise GuiError(
                    f"refusing to act on display {name or '(none)'}, which is not a private lma display; "
                    "pass allow_host_display=True to act on your real screen"
                )
            elif not name:
                raise GuiError("allow_host_display=True but $DISPLAY is not set")
            else:
                self.env = {"DISPLAY": name, "XAUTHORITY": os.environ.get("XAUTHORITY", "")}
        self.name = self.env["DISPLAY"]
        self.private = find_display(self.name) is not None
        self._grabber: Any = None
        with self.pyautogui() as gui:
            self.size: tuple[int, int] = tuple(gui.size())  # type: ignore[assignment]

    @contextmanager
    def pyautogui(self) -> Iterator[Any]:
        """pyautogui, bound to this display, for the duration of the ``with`` block."""
        global _bound
        key = (self.name, self.env.get("XAUTHORITY", ""))
        with _LOCK:
            try:
                with _environ({k: v for k, v in self.env.items() if v}):
                    fresh = "pyautogui" not in sys.modules
                    import pyautogui  # a fresh import connects to $DISPLAY, set just above

                    backend = sys.modules["pyautogui._pyautogui_x11"]
                    if _bound != key:
                        if not fresh:
                            old = backend._display
                            importlib.reload(backend)
                            _close(old)
                        _bound = key
            except Exception as exc:
                raise GuiError(f"cannot connect to display {self.name}: {exc}") from None
            pyautogui.PAUSE = 0.0
            # Slamming the mouse into a corner stops a script on a real screen; on a private
            # display nobody holds the mouse, and (0, 0) is a valid place to click.
            pyautogui.FAILSAFE = not self.private
            yield pyautogui

    def screenshot(self) -> np.ndarray:
        """The whole screen as an H x W x 3 uint8 RGB array."""
        with _LOCK:
            if self._grabber is None:
                import mss

                with _environ({k: v for k, v in self.env.items() if v}):
                    self._grabber = mss.MSS(display=self.name)
            shot = self._grabber.grab(self._grabber.monitors[1])
        return np.asarray(shot, dtype=np.uint8)[:, :, 2::-1].copy()  # BGRA -> RGB

    def mapped_windows(self) -> int:
        """How many top-level windows are shown (to wait for an application to appear)."""
        from Xlib import X
        from Xlib.error import XError

        shown = 0
        with self.pyautogui():
            root = sys.modules["pyautogui._pyautogui_x11"]._display.screen().root
            for window in root.query_tree().children:
                try:
                    shown += window.get_attributes().map_state == X.IsViewable
                except XError:  # closed meanwhile
                    pass
        return shown

    def close(self) -> None:
        """Release the screenshot connection (pyautogui's stays bound until another display is used)."""
        with _LOCK:
            if self._grabber is not None:
                _close(self._grabber)
                self._grabber = None

    def __repr__(self) -> str:
        kind = "private" if self.private else "HOST"
        return f"<Screen {self.name} {self.size[0]}x{self.size[1]} {kind}>"


def _close(resource: Any) -> None:
    try:
        resource.close()
    except Exception:  # a connection to a server that is already gone
        pass


def check_keys(gui: Any, keys: list[str]) -> str | None:
    """Why ``keys`` cannot be pressed (unknown name, or no such key on this keyboard), or None."""
    backend = sys.modules["pyautogui._pyautogui_x11"]
    for key in keys:
        if key not in gui.KEYBOARD_KEYS:
            close = difflib.get_close_matches(key, gui.KEYBOARD_KEYS, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            return f"unknown key {key!r}{hint} (names as in pyautogui.KEYBOARD_KEYS: 'ctrl', 'enter', 'a', 'f5')"
        if not backend.keyboardMapping.get(key):
            return f"key {key!r} is not on this display's keyboard"
    return None


def gui_tools(screen: Screen) -> list[Tool]:
    """The GUI tool set acting on ``screen``; coordinates are bounded by its size."""
    width, height = screen.size

    @tool
    def click(x: int, y: int) -> str:
        """Left-click at screen pixel (x, y)."""
        with screen.pyautogui() as gui:
            gui.click(x, y)
        return f"clicked ({x}, {y})"

    @tool
    def double_click(x: int, y: int) -> str:
        """Double-click at screen pixel (x, y), e.g. to open an item."""
        with screen.pyautogui() as gui:
            gui.doubleClick(x, y)
        return f"double-clicked ({x}, {y})"

    @tool
    def right_click(x: int, y: int) -> str:
        """Right-click at screen pixel (x, y), e.g. to open a context menu."""
        with screen.pyautogui() as gui:
            gui.rightClick(x, y)
        return f"right-clicked ({x}, {y})"

    @tool
    def drag(x0: int, y0: int, x1: int, y1: int) -> str:
        """Press the left button at (x0, y0), move to (x1, y1) and release, e.g. to move a slider."""
        with screen.pyautogui() as gui:
            gui.moveTo(x0, y0)
            gui.dragTo(x1, y1, duration=0.15, button="left")
        return f"dragged ({x0}, {y0}) -> ({x1}, {y1})"

    @tool(name="type")
    def type_text(text: str) -> ToolResult | str:
        """Type text with the keyboard into the focused widget ("\\n" presses Enter)."""
        with screen.pyautogui() as gui:
            backend = sys.modules["pyautogui._pyautogui_x11"]
            missing = sorted(c for c in set(text) if not backend.keyboardMapping.get(c))
            if missing:
                return ToolResult(ok=False, error=f"type: no key types {', '.join(map(repr, missing))}; "
                                  "only characters of a US keyboard can be typed")
            gui.write(text)
        return f"typed {len(text)} characters"

    @tool
    def hotkey(keys: list[str]) -> ToolResult | str:
        """Press keys together and release them, e.g. ["ctrl", "s"] to save."""
        names = [k.lower() if len(k) > 1 else k for k in keys]
        with screen.pyautogui() as gui:
            problem = check_keys(gui, names)
            if problem:
                return ToolResult(ok=False, error=f"hotkey: {problem}")
            gui.hotkey(*names)
        return "pressed " + "+".join(names)

    @tool
    def scroll(dy: int, x: int | None = None, y: int | None = None) -> str:
        """Scroll the mouse wheel by dy notches (positive: up, negative: down), at (x, y) if given."""
        with screen.pyautogui() as gui:
            gui.scroll(dy, x=x, y=y)
        return f"scrolled {dy:+d}"

    @tool
    def screenshot() -> ToolResult:
        """Take a screenshot of the whole screen (returned as an image)."""
        return ToolResult(output=f"screenshot {width}x{height}", image=screen.screenshot())

    tools = [click, double_click, right_click, drag, type_text, hotkey, scroll, screenshot]
    for t in tools:
        bound_schema(t, width, height)
    return tools


def bound_schema(t: Tool, width: int, height: int) -> Tool:
    """Bound ``t``'s coordinate arguments (x*, y*) by the screen, and its sizes (text, dy, keys)."""
    props = t.parameters.get("properties", {})
    for name, schema in props.items():
        if name.startswith("x"):
            schema.update(minimum=0, maximum=width - 1)
        elif name.startswith("y"):
            schema.update(minimum=0, maximum=height - 1)
    if "text" in props:
        props["text"]["maxLength"] = MAX_TEXT
    if "dy" in props:
        props["dy"].update(minimum=-MAX_SCROLL, maximum=MAX_SCROLL)
    if "keys" in props:
        props["keys"].update(minItems=1, maxItems=5)
    return t
