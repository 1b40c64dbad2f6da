"""``a11y``: the accessibility view of an observation, for planners that read rather than see.

Web and desktop envs describe what an agent can act on as ``obs["data"]["elements"]``: one
``{"id", "box": [x0, y0, x1, y1], "role", "label"}`` per element, where ``id`` is what the env's
tools take (``click(element=12)``). This perceiver lists them as ``[12] button 'Submit'`` lines
under the observation text (unless the env's text lists them already), or, for an env that
gives only a raw accessibility tree, appends ``obs["data"]["a11y"]``.
"""

from __future__ import annotations

from typing import Any

from lma.core import Observation
from lma.perception.base import Percept, Perceiver, shown_frame


def valid_elements(obs: Observation) -> list[dict[str, Any]]:
    """The observation's elements that have an id (boxes are checked by those who draw them)."""
    elements = (obs.get("data") or {}).get("elements") or []
    return [e for e in elements if isinstance(e, dict) and "id" in e]


def element_line(element: dict[str, Any]) -> str:
    label = str(element.get("label") or "").replace("\n", " ")[:100]
    return f"[{element['id']}] {element.get('role') or 'element'} {label!r}"


def with_listing(text: str, heading: str, elements: list[dict[str, Any]]) -> str:
    """``text`` followed by the element lines, unless ``text`` already names every element id."""
    if not elements or all(f"[{e['id']}]" in text for e in elements):
        return text
    return f"{text}\n\n{heading}\n" + "\n".join(element_line(e) for e in elements)


class A11y(Perceiver):
    """Elements with ids, roles and labels as text; see the module docstring."""

    name = "a11y"

    def perceive(self, obs: Observation, model: Any = None) -> Percept:
        text, elements = obs.get("text", ""), valid_elements(obs)
        tree = (obs.get("data") or {}).get("a11y")
        if elements:
            text = with_listing(text, "Elements you can act on ([id] role 'label'):", elements)
        elif isinstance(tree, str) and tree.strip() and tree.strip() not in text:
            text = f"{text}\n\nAccessibility tree:\n{tree.strip()}"
        return Percept(text, shown_frame(obs, model), {"elements": [e["id"] for e in elements]})
