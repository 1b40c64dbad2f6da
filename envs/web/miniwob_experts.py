"""Scripted solvers for MiniWoB++ tasks: hand-written rules, not learned policies.

Each solver reads the task's utterance and the element list of the first observation (the ids
lma's browser assigned) and returns the whole plan as tool calls; :meth:`MiniWoBEnv.expert_action`
hands them out one per step. They exist to test the adapter end to end (a page, our ids, our
actions, the page's own reward) and to record demonstrations; results name them "expert".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lma.core import ToolCall
from lma.errors import LmaError

Elements = list[dict[str, Any]]
Solver = Callable[[str, Elements], list[ToolCall]]
SOLVERS: dict[str, Solver] = {}


class NoSolverError(LmaError):
    """The task has no scripted solver, or the page did not look as the solver expects."""


def solver(*tasks: str) -> Callable[[Solver], Solver]:
    def register(fn: Solver) -> Solver:
        for task in tasks:
            SOLVERS[task] = fn
        return fn

    return register


def plan(task: str, goal: str, elements: Elements) -> list[ToolCall]:
    """The scripted solver's plan for ``task`` given the utterance and the visible elements."""
    if task not in SOLVERS:
        raise NoSolverError(f"no scripted solver for MiniWoB++ task {task!r}; solvers exist for {sorted(SOLVERS)}")
    return SOLVERS[task](goal, elements)


def find(elements: Elements, *, role: str | None = None, label: str | None = None) -> int:
    """The id of the first element with this role and (exact) label."""
    for e in elements:
        if (role is None or e["role"] == role) and (label is None or e["label"] == label):
            return int(e["id"])
    raise NoSolverError(f"no {role or 'element'} labelled {label!r} on the page")


def all_of(elements: Elements, role: str) -> list[int]:
    return [int(e["id"]) for e in elements if e["role"] == role]


def quoted(goal: str) -> list[str]:
    return re.findall(r'"([^"]*)"', goal)


def click(element: int) -> ToolCall:
    return ToolCall("click", {"element": element})


def type_(element: int, text: str) -> ToolCall:
    return ToolCall("type", {"element": element, "text": text})


@solver("click-test")
def _click_test(goal: str, elements: Elements) -> list[ToolCall]:
    return [click(find(elements, role="button"))]


@solver("click-test-2")
def _click_test_2(goal: str, elements: Elements) -> list[ToolCall]:
    name = re.search(r"button (\w+)", goal)
    if not name:
        raise NoSolverError(f"unexpected utterance {goal!r}")
    return [click(find(elements, role="button", label=name.group(1)))]


@solver("click-button")
def _click_button(goal: str, elements: Elements) -> list[ToolCall]:
    return [click(find(elements, role="button", label=quoted(goal)[0]))]


@solver("click-link")
def _click_link(goal: str, elements: Elements) -> list[ToolCall]:
    return [click(find(elements, role="clickable", label=quoted(goal)[0]))]


@solver("focus-text")
def _focus_text(goal: str, elements: Elements) -> list[ToolCall]:
    return [click(find(elements, role="textbox"))]


@solver("enter-text", "enter-password")
def _enter_text(goal: str, elements: Elements) -> list[ToolCall]:
    text = quoted(goal)[0]
    calls = [type_(box, text) for box in all_of(elements, "textbox")]
    return calls + [click(find(elements, role="button", label="Submit"))]


@solver("login-user")
def _login_user(goal: str, elements: Elements) -> list[ToolCall]:
    username, password = quoted(goal)[:2]
    return [
        type_(find(elements, role="textbox", label="username"), username),
        type_(find(elements, role="textbox", label="password"), password),
        click(find(elements, role="button", label="Login")),
    ]


@solver("click-checkboxes")
def _click_checkboxes(goal: str, elements: Elements) -> list[ToolCall]:
    wanted = re.match(r"Select (.*) and click Submit\.", goal)
    if not wanted:
        raise NoSolverError(f"unexpected utterance {goal!r}")
    names = set() if wanted.group(1) == "nothing" else {w.strip() for w in wanted.group(1).split(",")}
    calls = [click(int(e["id"])) for e in elements if e["role"] == "checkbox" and e["label"] in names]
    return calls + [click(find(elements, role="button", label="Submit"))]


@solver("choose-list")
def _choose_list(goal: str, elements: Elements) -> list[ToolCall]:
    wanted = re.match(r"Select (.*) from the list and click Submit\.", goal)
    if not wanted:
        raise NoSolverError(f"unexpected utterance {goal!r}")
    listbox = find(elements, role="combobox")
    return [ToolCall("select", {"element": listbox, "option": wanted.group(1)}),
            click(find(elements, role="button", label="Submit"))]
