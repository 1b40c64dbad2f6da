"""Episodes in series that share hidden state: the convention of the ``memory/*`` envs.

A seed names one episode of one series: ``series, index = divmod(seed, series_length)``. The
episodes of a series share what the env keeps out of view (a house's layout and where its objects
lie, a person's facts); ``index`` says which errand of the series an episode is. The first
``learn_errands(series_length)`` errands of a series are new; each later one asks again about
what an earlier errand of the same series showed (``metrics["recall_errand"]``), which nothing in
its own observations gives away. With ``series_length=1`` every episode is its own series and
memory of other episodes cannot help: the control families.

Why the seed: ``lma eval`` gives every agent the same seeds, so a run of ``--episodes 12`` is two
series of six for every agent, paired episode by episode. Series envs set ``episodes_in_order``:
``lma eval`` then plays one agent's episodes of that env one after another in seed order, so what
the agent wrote to its memory at the end of errand ``i`` is there when errand ``i + 1`` starts.

The oracles of :mod:`lma.agents.memory_oracles` use two more methods: ``knowledge()`` (what this
episode has revealed so far, JSON-able, built from what was observed, not from hidden state) and
``use_knowledge(items)`` (what earlier episodes revealed, handed to the env's expert policy).
"""

from __future__ import annotations

import math
from typing import Any

from lma.errors import LmaError


def learn_errands(series_length: int) -> int:
    """How many errands open a series with something new; the rest revisit them in turn."""
    return math.ceil(series_length / 2)


def split_seed(seed: int, series_length: int) -> tuple[int, int]:
    """``(series, index)`` of the episode a seed names."""
    if series_length < 1:
        raise LmaError(f"series_length must be at least 1, got {series_length}")
    return divmod(seed, series_length)


def recalled_index(index: int, series_length: int) -> int | None:
    """The earlier errand whose subject errand ``index`` asks about again, or None for a new one."""
    learn = learn_errands(series_length)
    return None if index < learn else index - learn


class SeriesEnv:
    """What a series env adds to :class:`lma.envs.base.ToolEnv` (a mixin; see the module docstring)."""

    episodes_in_order = True
    series_length: int = 1
    series: int = 0
    index: int = 0

    def start_series_episode(self, seed: int | None) -> int:
        """Set ``series`` and ``index`` for this reset; a seedless reset draws a seed."""
        if seed is None:
            seed = int(self.np_random.integers(2**31 - 1))  # type: ignore[attr-defined]
        self.series, self.index = split_seed(seed, self.series_length)
        return seed

    @property
    def recall_errand(self) -> bool:
        return recalled_index(self.index, self.series_length) is not None

    def where_text(self) -> str:
        """The observation's line that says which series and errand this is (public, not a hint)."""
        return f"Series {self.series}, errand {self.index + 1} of {self.series_length}"

    def series_data(self) -> dict[str, Any]:
        return {"series": self.series, "index": self.index, "series_length": self.series_length}

    def knowledge(self) -> dict[str, Any]:
        raise NotImplementedError

    def use_knowledge(self, items: list[dict[str, Any]]) -> None:
        raise NotImplementedError
