"""The base of the small Tk programs that the desktop tasks run (stdlib only, standalone).

An app runs as its own process on the env's virtual display (``python envs/gui/apps NAME
WORKDIR``): it reads its seeded parameters from ``WORKDIR/params.json``, draws its window at the
top-left corner of the screen, and writes its results into ``WORKDIR`` (a saved file, a log):
that is what the task checkers read, never what the agent claims.

It also answers requests on the Unix socket ``WORKDIR/app.sock``: each connection gets one JSON
line with the window's widget tree (every visible widget with its role, label, value and box in
screen pixels, list items and posted menu entries included), the keyboard focus and the app's own
``state()``. Before answering it processes every pending event and waits for the X server, so a
reply reflects every input sent before the request, and a screenshot taken after it shows the
same state. An app that does not answer is hung; one whose socket is gone has crashed.
"""

from __future__ import annotations

import json
import os
import socket
import tkinter as tk
from pathlib import Path
from typing import Any

FONT = ("DejaVu Sans", 12)
ROLES = {
    "Button": "button", "TButton": "button", "Entry": "textbox", "TEntry": "textbox",
    "Checkbutton": "checkbox", "TCheckbutton": "checkbox", "Radiobutton": "radio", "TRadiobutton": "radio",
    "Label": "text", "TLabel": "text", "Text": "textarea", "Scale": "slider", "TScale": "slider",
    "TCombobox": "combobox", "Listbox": "list", "Spinbox": "spinbox", "TSpinbox": "spinbox",
    "Menubutton": "menubutton", "TMenubutton": "menubutton", "Scrollbar": "scrollbar", "TScrollbar": "scrollbar",
}
SELECTABLE = {"Checkbutton", "TCheckbutton", "Radiobutton", "TRadiobutton"}


class TkApp:
    """Subclasses set ``title`` and ``size``, build their widgets in ``build`` and may add ``state``."""

    title = "app"
    size = (640, 480)

    def __init__(self, workdir: str | Path):
        self.workdir = Path(workdir)
        self.params: dict[str, Any] = json.loads((self.workdir / "params.json").read_text())
        self.root = tk.Tk(className="LmaApp")
        self.root.title(self.title)
        self.root.geometry(f"{self.size[0]}x{self.size[1]}+0+0")
        self.root.option_add("*Font", FONT)
        for name in ("TkDefaultFont", "TkTextFont", "TkMenuFont", "TkHeadingFont", "TkFixedFont"):
            self.root.tk.call("font", "configure", name, "-family", FONT[0], "-size", FONT[1])
        self.labels: dict[str, str] = {}
        self.build()
        self.root.update()
        # No window manager runs on the virtual display: take the X input focus explicitly, or
        # key events would go to whatever window is under the pointer.
        self.root.focus_force()
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.workdir / "app.sock.tmp"))
        self.server.listen(4)
        os.replace(self.workdir / "app.sock.tmp", self.workdir / "app.sock")  # appears only when ready
        self.root.tk.createfilehandler(self.server, tk.READABLE, self._answer)

    # -- for subclasses --------------------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """App-specific state for the oracle and the observation text (not for checkers)."""
        return {}

    def label(self, widget: tk.Misc, text: str) -> tk.Misc:
        """Name an unlabelled widget (an entry, a text area) in the widget tree."""
        self.labels[str(widget)] = text
        return widget

    def write_json(self, name: str, data: Any) -> None:
        """Write a result file atomically, so a checker never reads half of it."""
        tmp = self.workdir / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.workdir / name)

    def log(self, name: str, line: str) -> None:
        with open(self.workdir / name, "a") as f:
            f.write(line + "\n")

    def run(self) -> None:
        self.root.mainloop()

    # -- the widget tree -------------------------------------------------------------------------
    def _answer(self, *_: Any) -> None:
        conn, _ = self.server.accept()
        with conn:
            try:
                self.root.update()
                self.root.winfo_pointerxy()  # a round trip: the server has drawn everything sent so far
                reply = {"elements": self.elements(), "focus": self._call("focus"), "state": self.state()}
            except Exception as exc:  # report it, keep running: the env records a failed step
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            conn.sendall(json.dumps(reply).encode() + b"\n")

    def elements(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        self._visit(".", found)
        return found

    def _call(self, *args: Any) -> str:
        """A Tcl command's result as a string (lists are split with ``_list``)."""
        return str(self.root.tk.call(*args))

    def _list(self, *args: Any) -> tuple[str, ...]:
        return tuple(str(v) for v in self.root.tk.splitlist(self.root.tk.call(*args)))

    def _visit(self, path: str, found: list[dict[str, Any]]) -> None:
        for child in self._list("winfo", "children", path):
            if self._call("winfo", "viewable", child) != "1":
                continue
            cls = self._call("winfo", "class", child)
            x, y = int(self._call("winfo", "rootx", child)), int(self._call("winfo", "rooty", child))
            w, h = int(self._call("winfo", "width", child)), int(self._call("winfo", "height", child))
            if cls == "Menu":
                found += self._menu_entries(child, x, y, w, h)
            elif cls in ROLES and (ROLES[cls] != "text" or self._label(child)):  # not empty status lines
                found.append({"path": child, "role": ROLES[cls], "label": self._label(child),
                              "value": self._value(child, cls), "box": [x, y, x + w, y + h]})
                if cls == "Listbox":
                    found += self._list_items(child, x, y)
            self._visit(child, found)

    def _label(self, path: str) -> str:
        if path in self.labels:
            return self.labels[path]
        try:
            return self._call(path, "cget", "-text")
        except tk.TclError:
            return ""

    def _value(self, path: str, cls: str) -> str | None:
        if cls in SELECTABLE:
            if cls.startswith("T"):
                return "checked" if self._call(path, "instate", "selected") == "1" else "unchecked"
            var = self._call(path, "cget", "-variable")
            on = self._call(path, "cget", "-onvalue" if cls == "Checkbutton" else "-value")
            return "checked" if var and str(self.root.globalgetvar(var)) == on else "unchecked"
        if cls in ("Entry", "TEntry", "TCombobox", "Spinbox", "TSpinbox", "Scale", "TScale"):
            return self._call(path, "get")
        if cls in ("Label", "TLabel") and path in self.labels:  # a named read-out, e.g. a display
            return self._call(path, "cget", "-text")
        if cls == "Text":
            return self._call(path, "get", "1.0", "end-1c")
        return None

    def _list_items(self, path: str, x: int, y: int) -> list[dict[str, Any]]:
        items = []
        selected = {int(i) for i in self._list(path, "curselection")}
        for i in range(int(self._call(path, "index", "end"))):
            bbox = self._list(path, "bbox", i)
            if not bbox:  # scrolled out of view
                continue
            bx, by, bw, bh = (int(v) for v in bbox)
            right = x + int(self._call("winfo", "width", path)) - 2
            items.append({"path": f"{path}#{i}", "role": "listitem", "label": self._call(path, "get", i),
                          "value": "selected" if i in selected else None, "box": [x + bx, y + by, right, y + by + bh]})
        return items

    def _menu_entries(self, path: str, x: int, y: int, w: int, h: int) -> list[dict[str, Any]]:
        last = self._call(path, "index", "end")
        if last == "none":
            return []
        entries, count = [], int(last) + 1
        tops = [int(self._call(path, "yposition", i)) for i in range(count)] + [h]
        for i in range(count):
            if self._call(path, "type", i) in ("separator", "tearoff"):
                continue
            label = self._call(path, "entrycget", i, "-label")
            entries.append({"path": f"{path}#{i}", "role": "menuitem", "label": label, "value": None,
                            "box": [x, y + tops[i], x + w, y + tops[i + 1]]})
        return entries
