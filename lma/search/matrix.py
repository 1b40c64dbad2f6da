"""The index's embeddings as float32 matrices beside Chroma, so that a query is scored exactly.

Chroma stays the store of record (embeddings, texts, image paths, metadata); the matrix is a
copy kept for speed. Ranking every document by the fused score of :mod:`lma.search.compose` is
two matrix-vector products, since the two text terms fold into one vector:

    w * I q + (1 - w) * T q + beta * T m  =  I (w q) + T ((1 - w) q + beta m)

A query over 100,000 documents of 64 dimensions then costs about a millisecond, where three
HNSW probes and the rescoring of their candidates cost tens, and a Chroma filter (applied before
its vector search) hundreds. Filters are boolean masks over the documents' colour and pattern
codes. The ranking is exact, so it is the one Chroma's probes approximated.

The file is ``vectors.npz`` in the index folder (``ids``, ``images``, ``texts``, ``color``,
``pattern``), replaced whole and atomically (written under a temporary name, then renamed), so a
reader never sees half of one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lma.images.attributes import VALUES
from lma.search.compose import QueryVectors, Weights

FILE = "vectors.npz"
FILTERED = ("color", "pattern")  # the attributes a search may filter on
PAGE = 4096  # documents read from Chroma per call when the matrix is rebuilt from it


def _codes(name: str, metadatas: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Each document's value of ``name`` as its position in VALUES[name] (-1: none or another)."""
    position = {value: i for i, value in enumerate(VALUES[name])}
    return np.array([position.get(m.get(name), -1) for m in metadatas], np.int8)


@dataclass(frozen=True)
class Matrix:
    """Row i is document ``ids[i]``: its unit image and text embeddings, its colour and pattern codes."""

    ids: np.ndarray  # (n,) str
    images: np.ndarray  # (n, dim) float32
    texts: np.ndarray  # (n, dim) float32
    color: np.ndarray  # (n,) int8
    pattern: np.ndarray  # (n,) int8

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, ids: Sequence[str], images: Any, texts: Any, metadatas: Sequence[Mapping[str, Any]]) -> Matrix:
        """The rows of documents as they are written to Chroma."""
        return cls(np.asarray(ids, str), np.asarray(images, np.float32), np.asarray(texts, np.float32),
                   _codes("color", metadatas), _codes("pattern", metadatas))

    @classmethod
    def concat(cls, parts: Sequence[Matrix]) -> Matrix:
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in cls.__dataclass_fields__))

    @classmethod
    def from_chroma(cls, images: Any, texts: Any) -> Matrix:
        """Read every document of the ``images`` and ``texts`` collections (the store of record)."""
        parts, total = [], images.count()
        for offset in range(0, total, PAGE):
            page = images.get(limit=PAGE, offset=offset, include=["embeddings", "metadatas"])
            text = texts.get(ids=page["ids"], include=["embeddings"])
            text_of = dict(zip(text["ids"], text["embeddings"]))
            parts.append(cls.of(page["ids"], page["embeddings"], [text_of[i] for i in page["ids"]],
                                page["metadatas"]))
        return cls.concat(parts) if parts else cls.of([], np.zeros((0, 0)), np.zeros((0, 0)), [])

    @classmethod
    def load(cls, folder: Path) -> Matrix | None:
        """The matrix saved in ``folder``, or None when there is none or it cannot be read."""
        try:
            with np.load(folder / FILE, allow_pickle=False) as saved:
                return cls(*(saved[name] for name in cls.__dataclass_fields__))
        except (OSError, ValueError, KeyError):
            return None

    def save(self, folder: Path) -> None:
        """Write ``vectors.npz`` into ``folder`` atomically."""
        tmp = folder / f".{FILE}.tmp{os.getpid()}"
        with open(tmp, "wb") as out:
            np.savez(out, **{name: getattr(self, name) for name in self.__dataclass_fields__})
        os.replace(tmp, folder / FILE)

    def top(self, query: QueryVectors, weights: Weights, k: int,
            filters: Mapping[str, str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best (id, fused score) pairs, best first, among the documents ``filters`` keeps
        (attribute -> value, values from VALUES)."""
        side = (1 - weights.image) * query.main
        if query.modifier is not None:
            side = side + weights.modifier * query.modifier
        score = self.images @ np.asarray(weights.image * query.main, np.float32)
        score += self.texts @ np.asarray(side, np.float32)
        rows = np.arange(len(self))
        for name, value in (filters or {}).items():
            rows = rows[getattr(self, name)[rows] == VALUES[name].index(value)]
        if len(rows) > k:
            rows = rows[np.argpartition(-score[rows], k - 1)[:k]]
        rows = rows[np.argsort(-score[rows], kind="stable")]
        return [(str(self.ids[i]), float(score[i])) for i in rows]
