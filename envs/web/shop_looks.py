"""The Loopback Shop's print catalogue: products with pictures, for "like this, but green" tasks.

Each seed draws four designs (a shape and a pattern each, under a made-up line name) and sells
every design in all six colours: 24 prints, so a colour word alone matches four products and a
picture alone matches the wrong colour. A product's name says its line and colour ("Kestrel
Print, green"), its description what is drawn. Pictures come from the synthetic scene set
(:mod:`lma.images.scenes`); the task's own picture is the design re-drawn in another colour and
another placement, so it never equals a catalogue image pixel for pixel.

:func:`build_index` embeds the catalogue with a CLIP backend into a multimodal search index
(:mod:`lma.search`), which the task offers the agent as its ``search`` tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lma.images.clip import ClipBackend
from lma.images.scenes import COLORS, PATTERNS, SHAPES, draw_single, single_caption
from lma.search.index import SearchIndex

LINES = ["Kestrel", "Juniper", "Harbor", "Meadow", "Quartz", "Saffron", "Tundra", "Willow", "Ember", "Lagoon"]
PICTURE_SIZE = 32


@dataclass(frozen=True)
class Look:
    """What a print shows: one object's colour, shape and pattern, and its line's name."""

    line: str
    color: str
    shape: str
    pattern: str

    @property
    def name(self) -> str:
        return f"{self.line} Print, {self.color}"

    @property
    def caption(self) -> str:
        return single_caption(self.color, self.shape, self.pattern)

    def picture(self, rng: np.random.Generator) -> np.ndarray:
        """The look drawn once, placed by ``rng``."""
        return draw_single(rng, self.color, self.shape, self.pattern).render(PICTURE_SIZE)


def make_looks(rng: np.random.Generator) -> list[Look]:
    """Four designs of distinct shape-pattern pairs, each in every colour (24 looks)."""
    pairs = [(s, p) for s in SHAPES for p in PATTERNS]
    designs = [pairs[i] for i in rng.choice(len(pairs), size=4, replace=False)]
    lines = [str(x) for x in rng.choice(LINES, size=4, replace=False)]
    return [Look(line, color, shape, pattern) for line, (shape, pattern) in zip(lines, designs) for color in COLORS]


def build_index(documents: list[tuple[int, str, np.ndarray]], folder: Path, backend: ClipBackend) -> SearchIndex:
    """A search index of (product id, text, picture) in the new ``folder``."""
    docs = [{"id": str(pid), "text": text, "image": picture} for pid, text, picture in documents]
    return SearchIndex.build(docs, folder, backend=backend)
