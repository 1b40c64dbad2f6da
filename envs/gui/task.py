"""What a desktop task is: seeded parameters, a goal, an app to start, a checker, an oracle.

A :class:`DesktopTask` draws its parameters from the env's seeded generator (names, values,
which item to change), starts one application on the env's private display, and judges success
only from what the application wrote into the task's working folder (a saved file, a log): the
OSWorld way, never from the agent's claim. ``expert`` is a scripted oracle (agent ``expert``)
that reads the app's widget tree in a :class:`View`; it exists to test the env end to end.

This module imports neither Tk nor pyautogui: registering the tasks must stay cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lma.core import ToolCall

FIRST_NAMES = ("Ada", "Bruno", "Chen", "Dalia", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jana", "Kofi", "Lea")
LAST_NAMES = ("Moreau", "Okafor", "Lindqvist", "Tanaka", "Novak", "Reyes", "Haddad", "Brennan", "Kowalski")
CHORES = ("Water the plants", "Pay the rent", "Call the dentist", "Buy oat milk", "Book train tickets",
          "Return library books", "Fix the bike light", "Send the invoice", "Clean the fridge",
          "Renew the passport", "Order printer ink", "Plan the team lunch")
PLACES = ("Room 4B", "the lobby", "the cafe", "Lab 2", "the main hall", "Studio 7")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


@dataclass
class View:
    """The app as the env last saw it: the widget tree (ids as in the observation), focus, state."""

    elements: list[dict[str, Any]] = field(default_factory=list)
    focus: str = ""
    state: dict[str, Any] = field(default_factory=dict)

    def find(self, role: str, label: str | None = None) -> dict[str, Any] | None:
        """The first element with this role (and label), or None."""
        return next((e for e in self.elements if e["role"] == role and label in (None, e["label"])), None)


class DesktopTask:
    """Base class; subclasses set ``app`` and ``description`` and implement the four methods."""

    app = ""  # a Tk app in envs/gui/apps, or a stock X program started by ``command``
    description = ""

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Seeded parameters; ``params["app"]`` is written to the app's params.json."""
        raise NotImplementedError

    def goal(self, params: dict[str, Any]) -> str:
        raise NotImplementedError

    def check(self, workdir: Path, params: dict[str, Any]) -> bool:
        """Success, read from the files the app wrote into ``workdir``."""
        raise NotImplementedError

    def expert(self, view: View, params: dict[str, Any], memory: dict[str, Any]) -> ToolCall:
        """The scripted oracle's next action; ``memory`` is a dict kept for one episode."""
        raise NotImplementedError

    def prepare(self, workdir: Path, params: dict[str, Any]) -> None:
        """Write what the app reads at start (Tk apps: params.json)."""
        (workdir / "params.json").write_text(json.dumps(params.get("app", {})))

    def command(self, workdir: Path, params: dict[str, Any]) -> list[str] | None:
        """The command line of a stock X program; None runs the Tk app ``self.app``."""
        return None


# -- helpers shared by the tasks ---------------------------------------------------------------
def pick(rng: np.random.Generator, options: tuple[Any, ...] | list[Any], k: int | None = None) -> Any:
    """One option (or ``k`` distinct ones, in random order), drawn with the env's generator."""
    if k is None:
        return options[int(rng.integers(len(options)))]
    return [options[int(i)] for i in rng.choice(len(options), size=k, replace=False)]


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None if it is missing or not JSON (a checker then fails)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def last_line(path: Path) -> str | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    return lines[-1] if lines else None


LOOK = ToolCall("screenshot")  # an oracle's move when there is nothing to do, or nothing to act on


def press(view: View, role: str, label: str) -> ToolCall:
    """Click the element with this role and label (if it is not on screen, look again)."""
    element = view.find(role, label)
    return click(element) if element else LOOK


def centre(element: dict[str, Any]) -> tuple[int, int]:
    x0, y0, x1, y1 = element["box"]
    return (x0 + x1) // 2, (y0 + y1) // 2


def click(element: dict[str, Any]) -> ToolCall:
    return ToolCall("click_element", {"id": element["id"]})


def at(name: str, element: dict[str, Any], **extra: Any) -> ToolCall:
    """A pointer tool (right_click, double_click, scroll) at the centre of ``element``."""
    x, y = centre(element)
    return ToolCall(name, {**extra, "x": x, "y": y})


def fill(view: View, element: dict[str, Any], target: str, memory: dict[str, Any]) -> ToolCall:
    """The next step to make a text field read ``target``: focus it, clear a wrong value, type."""
    value = element["value"] or ""
    if view.focus != element["path"]:
        return click(element)
    if target.startswith(value):
        return ToolCall("type", {"text": target[len(value):]})
    if memory.get("selected") != element["path"]:  # Tk's select-all; typing then replaces it
        memory["selected"] = element["path"]
        return ToolCall("hotkey", {"keys": ["ctrl", "/"]})
    memory.pop("selected")
    return ToolCall("type", {"text": target})
