"""The Memory protocol: long-term stores an agent recalls from and writes to.

What a user must know: ``write(item)`` stores a :class:`MemoryItem`; ``recall(query, k, where)``
returns up to ``k`` items most relevant to ``query``, optionally filtered on metadata
(``where={"env": "babyai/GoToObj-v0", "outcome": "success"}``); ``close()`` releases the store.
How agents use memory is the agent's business (the survey's Type III calls it through tools,
Type IV from its own loop); a backend only stores and retrieves.

What a backend must do: register a factory in the ``memory`` registry (outside packages through
the ``lma.memory`` entry-point group) taking ``name`` and backend options, and make ``write``
durable before it returns, so a killed run loses nothing it had written.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class MemoryItem:
    """One memory: ``kind`` is ``experience``, ``skill``, ``observation`` or ``note``.

    ``text`` is what recall matches against (for an observation with an ``image``: its caption or
    OCR text). A backend that stores an ``image`` (H x W x 3 uint8) saves it as a file next to
    the store and sets ``image_path``; recalled items carry ``image_path``, not the pixels.
    """

    text: str
    kind: str = "note"
    metadata: dict[str, Any] = field(default_factory=dict)
    image_path: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: float = field(default_factory=time.time)
    score: float | None = None  # relevance, filled in by ``recall``
    image: Any = field(default=None, repr=False)


class Memory:
    """Base class of memory backends."""

    name = "memory"

    def write(self, item: MemoryItem) -> None:
        raise NotImplementedError

    def write_many(self, items: list[MemoryItem]) -> None:
        """Store several items; backends override it to store them in one batch."""
        for item in items:
            self.write(item)

    def recall(self, query: str, k: int = 3, where: dict[str, Any] | None = None) -> list[MemoryItem]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the store."""


class NoMemory(Memory):
    """No long-term memory: writes are dropped and nothing is recalled (Types I and II)."""

    name = "none"

    def write(self, item: MemoryItem) -> None:
        pass

    def recall(self, query: str, k: int = 3, where: dict[str, Any] | None = None) -> list[MemoryItem]:
        return []


def matches(metadata: dict[str, Any], where: dict[str, Any] | None) -> bool:
    """Whether ``metadata`` has every key/value of ``where`` (a list value: any of its values)."""
    return not where or all(
        metadata.get(k) in v if isinstance(v, (list, tuple, set)) else metadata.get(k) == v for k, v in where.items()
    )


class WindowMemory(Memory):
    """Short-term memory in this process: the last ``size`` items, most recent first."""

    name = "window"

    def __init__(self, size: int = 8, **_: Any):
        self.size, self.items = int(size), []

    def write(self, item: MemoryItem) -> None:
        self.items = (self.items + [item])[-self.size :]

    def recall(self, query: str, k: int = 3, where: dict[str, Any] | None = None) -> list[MemoryItem]:
        return [i for i in reversed(self.items) if matches({**i.metadata, "kind": i.kind}, where)][:k]
