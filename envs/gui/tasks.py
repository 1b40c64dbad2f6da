"""The desktop tasks: eight on the Tk apps in ``apps/`` and one on a stock X program (xedit).

Each is registered as ``gui/<name>-v0`` (see :mod:`lma.envs.gui`). Every checker reads only the
app's own output in the task folder; every ``expert`` is a scripted oracle over the widget tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lma.core import ToolCall
from lma.envs.gui.task import (
    CHORES, DAYS, FIRST_NAMES, LAST_NAMES, LOOK, PLACES, DesktopTask, View, at, click, fill, last_line, pick, press,
    read_json,
)


class FormFill(DesktopTask):
    app = "form"
    description = "fill in a sign-up form (text fields, radio buttons, a check box) and submit it"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        first, last = pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)
        domain = pick(rng, ("example.org", "mail.test", "post.example"))
        return {"name": f"{first} {last}", "email": f"{first}.{last}@{domain}".lower(),
                "plan": pick(rng, ("Free", "Pro", "Team")), "newsletter": bool(rng.integers(2))}

    def goal(self, p: dict[str, Any]) -> str:
        tick = "tick" if p["newsletter"] else "leave unticked"
        return (f"Fill in the sign-up form: full name '{p['name']}', email '{p['email']}', plan {p['plan']}, "
                f"and {tick} the newsletter box; then press Submit.")

    def check(self, workdir: Path, p: dict[str, Any]) -> bool:
        wanted = {k: p[k] for k in ("name", "email", "plan", "newsletter")}
        return read_json(workdir / "submission.json") == wanted

    def expert(self, view: View, p: dict[str, Any], memory: dict[str, Any]) -> ToolCall:
        for label, key in (("Full name", "name"), ("Email", "email")):
            field = view.find("textbox", label)
            if field and field["value"] != p[key]:
                return fill(view, field, p[key], memory)
        plan = view.find("radio", p["plan"])
        if plan and plan["value"] != "checked":
            return click(plan)
        box = view.find("checkbox", "Send me the newsletter")
        if box and (box["value"] == "checked") != p["newsletter"]:
            return click(box)
        return press(view, "button", "Submit")


def _todo_items(workdir: Path) -> list[dict[str, Any]] | None:
    items = read_json(workdir / "todo.json")
    return items if isinstance(items, list) else None


class TodoAdd(DesktopTask):
    app = "todo"
    description = "add two tasks to a to-do list and save it"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        chores = pick(rng, CHORES, k=5)
        return {"app": {"items": chores[:3]}, "add": chores[3:]}

    def goal(self, p: dict[str, Any]) -> str:
        first, second = p["add"]
        return f"Add the tasks '{first}' and '{second}' to the to-do list, then press Save."

    def check(self, workdir: Path, p: dict[str, Any]) -> bool:
        wanted = [{"text": t, "done": False} for t in p["app"]["items"] + p["add"]]
        items = _todo_items(workdir)
        return items is not None and sorted(items, key=str) == sorted(wanted, key=str)

    def expert(self, view: View, p: dict[str, Any], memory: dict[str, Any]) -> ToolCall:
        texts = [item["text"] for item in view.state.get("items", [])]
        entry = view.find("textbox", "New task")
        for chore in p["add"]:
            if chore not in texts and entry:
                if entry["value"] == chore:
                    return press(view, "button", "Add")
                return fill(view, entry, chore, memory)
        return press(view, "button", "Save")


class TodoEdit(DesktopTask):
    app = "todo"
    description = "delete one task and mark another done through a right-click menu, then save"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        chores = pick(rng, CHORES, k=4)
        delete, done = pick(rng, chores, k=2)
        return {"app": {"items": chores}, "delete": delete, "done": done}

    def goal(self, p: dict[str, Any]) -> str:
        return (f"In the to-do list, delete '{p['delete']}' and mark '{p['done']}' as done "
                "(right-click a task for its menu), then press Save.")

    def check(self, workdir: Path, p: dict[str, Any]) -> bool:
        wanted = [{"text": t, "done": t == p["done"]} for t in p["app"]["items"] if t != p["delete"]]
        return _todo_items(workdir) == wanted

    def expert(self, view: View, p: dict[str, Any], memory: dict[str, Any]) -> ToolCall:
        menu_for = view.state.get("menu_for")
        if menu_for is not None and view.find("menuitem"):
            return press(view, "menuitem", "Delete" if menu_for == p["delete"] else "Mark done")
        done = {item["text"]: item["done"] for item in view.state.get("items", [])}
        rows = {e["label"][4:]: e for e in view.elements if e["role"] == "listitem"}  # "[ ] text", "[x] text"
        if p["delete"] in done and p["delete"] in rows:
            return at("right_click", rows[p["delete"]])
        if done.get(p["done"]) is False and p["done"] in rows:
            return at("right_click", rows[p["done"]])
        return press(view, "button", "Save")


class EditorSave(DesktopTask):
    app = "editor"
    description = "type a sentence into a text editor and save it with Ctrl+S"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        filename = pick(rng, ("notes.txt", "draft.txt", "memo.txt", "plan.txt"))
        sentence = (f"Meet {pick(rng, FIRST_NAMES)} in {pick(rng, PLACES)} on {pick(rng, DAYS)} "
                    f"at {int(rng.integers(8, 18))}:{pick(rng, ('00', '15', '30', '45'))}.")
        return {"app": {"filename": filename}, "text": sentence}

    def goal(self, p: dict[str, Any]) -> str:
        return f"Type the sentence '{p['text']}' into the editor and save the file with Ctrl+S."

    def check(self, workdir: Path, p: dict[str, Any]) -> bool:
        try:
            return (workdir / p["app"]["filename"]).read_text().strip() == p["text"]
        except OSError:
            return False

    def expert(self, view: View, p: dict[str, Any], memory: dict[str, Any]) -> ToolCall:
        area = view.find("textarea", "Document")
        if area and area["value"] != p["text"]:
            return fill(view, area, p["text"], memory)
        return ToolCall("hotkey", {"keys": ["ctrl", "s"]})


SWITCHES = ("Wi-Fi", "Bluetooth", "Dark mode", "Notifications")
LANGUAGES = ("English", "German", "French", "Spanish", "Italian", "Dutch")


class Settings(DesktopTask):
    app = "settings"
    description = "flip two switches (check boxes) and choose a language in a drop-down, then apply"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        start = {name: bool(rng.integers(2)) for name in SWITCHES}
        flip = pick(rng, SWITCHES, k=2)
        language, target = pick(rng, LANGUAGES, k=2)
        return {"app": {"switches": start, "language": language, "volume": int(rng.integers(0, 101))},
                "switches": {**start, **{name: not start[name] for name in flip}}, "flip": flip, "language": target}

    def goal(self, p: dict[str, Any]) -> str:
        turns = " and ".join(f"turn {'on' if p['switches'][n] else 'off'} {n}" for n in p["flip"])
        return f"In Settings, {turns}, and set Language to {p['language']}; then press Apply."

    def check(self, workdir: Path, p: dict[str, Any]) -> bool:
        saved = read_json(workdir / "settings.json") or {}
        return saved.get("switches") == p["switches"] and saved.get("language") == p["language"]

    def expert(self, view: View, p: dict[str, Any], memory: dict[str, Any]) -> ToolCall:
        for name, on in p["switches"].items():
            box = view.find("checkbox", name)
            if box and (box["value"] == "checked") != on:
                return click(box)
        option = view.find("listitem", p["language"])  # shown only while the drop-down is open
        if option:
            return click(option)
        combo = view.find("combobox", "Language")
        if combo and combo["value"] != p["language"]:
            return click(combo)
        return press(view, "button", "Apply")


class Volume(DesktopTask):
    app = "settings"
    description = "drag a slider to a value (within 1), then apply"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        start, target = (5 * int(v) for v in rng.choice(21, size=2, replace=False))
        return {"app": {"volume": start, "language": "English", "switches": {}}, "volume": target}

    def goal(self, p: dict[str, Any]) -> str:
        return f"Set the Volume slider to {p['volume']} by dragging it, then press Apply."

    def check(self, workdir: Path, p: dict[str, Any]) -> bool:
        saved = read_json(workdir / "settings.json") or {}
        return isinstance(saved.get("volume"), int) and abs(saved["volume"] - p["volume"]) <= 1

    def expert(self, view: View, p: dict[str, Any], memory: dict[str, Any]) -> ToolCall:
        slider = view.find("slider", "Volume")
        if slider and abs(int(slider["value"]) - p["volume"]) > 1:
            (x0, y), (x1, _) = view.state["volume_ends"]  # the slider's centre at 0 and at 100
            start, end = (round(x0 + (x1 - x0) * v / 100) for v in (int(slider["value"]), p["volume"]))
            return ToolCall("drag", {"x0": start, "y0": y, "x1": end, "y1": y})
        return press(view, "button", "Apply")


class Calculator(DesktopTask):
    app = "calculator"
    description = "compute an arithmetic result with a button calculator"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        op = pick(rng, ("+", "-", "*"))
        a, b = int(rng.integers(11, 100)), int(rng.integers(2, 100 if op != "*" else 30))
        return {"a": a, "op": op, "b": b, "result": a + b if op == "+" else a - b if op == "-" else a * b}

    def goal(self, p: dict[str, Any]) -> str:
        word = {"+": "plus", "-": "minus", "*": "times"}[p["op"]]
        return f"Use the calculator to compute {p['a']} {word} {p['b']} (press its buttons, then =)."

    def check(self, workdir: Path, p: dict[str, Any]) -> bool:
        return last_line(workdir / "calc.log") == f"{p['a']}{p['op']}{p['b']}={p['result']}"

    def expert(self, view: View, p: dict[str, Any], memory: dict[str, Any]) -> ToolCall:
        typed, target = view.state.get("expression", ""), f"{p['a']}{p['op']}{p['b']}"
        key = "=" if typed == target else target[len(typed)] if target.startswith(typed) else "C"
        return press(view, "button", key)


class FilesOpen(DesktopTask):
    app = "files"
    description = "scroll a long file list and double-click a file to open it"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        words = ("budget", "invoice", "report", "minutes", "photo", "draft", "contract", "slides", "notes")
        exts = (".pdf", ".csv", ".docx", ".txt", ".png")
        names: set[str] = set()
        while len(names) < 40:
            names.add(f"{pick(rng, words)}-{int(rng.integers(1000, 9999))}{pick(rng, exts)}")
        files = sorted(names)
        return {"app": {"files": files}, "file": files[int(rng.integers(15, 40))]}

    def goal(self, p: dict[str, Any]) -> str:
        return f"Open the file '{p['file']}' by double-clicking it in the file list (scroll down to find it)."

    def check(self, workdir: Path, p: dict[str, Any]) -> bool:
        return last_line(workdir / "opened.log") == p["file"]

    def expert(self, view: View, p: dict[str, Any], memory: dict[str, Any]) -> ToolCall:
        row = view.find("listitem", p["file"])
        if row:
            return at("double_click", row)
        shown = [e["label"] for e in view.elements if e["role"] == "listitem"]
        listing = view.find("list", "Files")
        if listing is None:
            return LOOK
        return at("scroll", listing, dy=-1 if not shown or p["file"] > shown[-1] else 1)  # 5 rows a notch


class XeditAppend(DesktopTask):
    app = "xedit"
    description = "stock X app: append a line to a file in xedit and save it"
    FILE = "memo.txt"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        lines = pick(rng, CHORES, k=3)
        return {"lines": lines[:2], "line": f"{lines[2]} by {pick(rng, DAYS)}"}

    def prepare(self, workdir: Path, p: dict[str, Any]) -> None:
        (workdir / self.FILE).write_text("".join(line + "\n" for line in p["lines"]))

    def command(self, workdir: Path, p: dict[str, Any]) -> list[str]:
        return ["xedit", "-geometry", "640x440+0+0", self.FILE]

    def goal(self, p: dict[str, Any]) -> str:
        return (f"The file {self.FILE} is open in xedit. Add the line '{p['line']}' at the end of the file and "
                "save it (press Save, or Ctrl+X then Ctrl+S).")

    def check(self, workdir: Path, p: dict[str, Any]) -> bool:
        try:
            lines = (workdir / self.FILE).read_text().rstrip("\n").split("\n")
        except OSError:
            return False
        return lines == [*p["lines"], p["line"]]

    def expert(self, view: View, p: dict[str, Any], memory: dict[str, Any]) -> ToolCall:
        # No widget tree: a fixed plan over xedit's known layout (-geometry above). Clicking below
        # the last line puts the cursor at the end of the file; Ctrl+X Ctrl+S saves.
        plan = [ToolCall("click", {"x": 320, "y": 420}), ToolCall("type", {"text": p["line"] + "\n"}),
                ToolCall("hotkey", {"keys": ["ctrl", "x"]}), ToolCall("hotkey", {"keys": ["ctrl", "s"]})]
        step = memory.setdefault("step", 0)
        memory["step"] = step + 1
        return plan[step] if step < len(plan) else LOOK


TASKS: dict[str, type[DesktopTask]] = {
    "form-fill": FormFill, "todo-add": TodoAdd, "todo-edit": TodoEdit, "editor-save": EditorSave,
    "settings": Settings, "volume": Volume, "calculator": Calculator, "files-open": FilesOpen,
    "xedit-append": XeditAppend,
}
