"""Zero-shot attribute classifiers on CLIP embeddings: colour, shape, pattern and count.

Each value of an attribute ("green") is one unit vector: the mean text embedding of every
single-object caption of the scene set holding that value ("a green circle", "two striped green
squares", ...), so the other attributes average out (CLIP's prompt ensembling). An image's value
is the nearest of them. These vectors also give the text-diff directions of composed queries
("this, but green": the image embedding moved along green - blue).
"""

from __future__ import annotations

import itertools

import numpy as np

from lma.images.clip import ClipBackend
from lma.images.scenes import COLORS, COUNTS, PATTERNS, SHAPES, single_caption

VALUES: dict[str, tuple] = {"color": tuple(COLORS), "shape": SHAPES, "pattern": PATTERNS, "count": COUNTS}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class ZeroShot:
    """The value vectors of every attribute for one backend, computed once."""

    def __init__(self, backend: ClipBackend):
        combos = list(itertools.product(COLORS, SHAPES, PATTERNS, COUNTS))
        texts = np.asarray(backend.encode_text([single_caption(*c) for c in combos]))
        self.vectors: dict[str, np.ndarray] = {}
        for position, (attribute, values) in enumerate(VALUES.items()):
            rows = [texts[[i for i, c in enumerate(combos) if c[position] == v]].mean(0) for v in values]
            self.vectors[attribute] = _unit(np.stack(rows)).astype(np.float32)

    def scores(self, image_embeddings: np.ndarray, attribute: str) -> np.ndarray:
        """Cosine of each image (row) with each value of ``attribute`` (column, in VALUES order)."""
        return np.asarray(image_embeddings) @ self.vectors[attribute].T

    def predict(self, image_embeddings: np.ndarray, attribute: str) -> list:
        """The nearest value of ``attribute`` for each image."""
        return [VALUES[attribute][i] for i in self.scores(image_embeddings, attribute).argmax(1)]

    def direction(self, attribute: str, source: object, target: object) -> np.ndarray:
        """The unit text-diff from one value to another (unCLIP's "text diff", in concept form)."""
        values = VALUES[attribute]
        vec = self.vectors[attribute]
        return _unit(vec[values.index(target)] - vec[values.index(source)])


def value_named(text: str) -> tuple[str, object] | None:
    """The (attribute, value) a modifier text names, e.g. "but green" -> ("color", "green"); the
    first colour, pattern or shape word found, or None."""
    words = set(text.lower().replace(",", " ").split())
    for attribute in ("color", "pattern", "shape"):
        for value in VALUES[attribute]:
            if value in words:
                return attribute, value
    return None
