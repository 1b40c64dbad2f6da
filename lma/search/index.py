"""A multimodal index in Chroma: each document's image and text embeddings, its colour and pattern.

An index is a folder::

    lma-search.json   {"format": 1, "clip": CLIP folder or null (the shipped one), "dim", "documents"}
    chroma/           two collections, ``images`` and ``texts`` (cosine HNSW), same ids: the store of record
    vectors.npz       the same embeddings as float32 matrices, with colour and pattern codes

The marker is written last and the folder is built beside its final name, then renamed, so an
interrupted build never leaves a folder that opens as an index. Documents come from a dataset
folder (:mod:`lma.images.scenes`' format: ``data.jsonl`` with ``image`` and ``text``, optional
``id``) or as dicts whose ``image`` is a path or an H x W x 3 array.

A search ranks every document exactly by the fused score of :mod:`lma.search.compose`, with
numpy over the matrices of :mod:`lma.search.matrix` (attribute filters are masks), then reads the
``k`` hits' texts and metadata from Chroma. The matrices are written with the collections, before
the marker; an index whose Chroma count no longer matches them (built by an older lma, or
written to through Chroma directly) has them rebuilt from Chroma at its next search.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chromadb
import numpy as np

from lma.errors import LmaError
from lma.images.attributes import VALUES, ZeroShot
from lma.images.backends import load_clip
from lma.images.clip import ClipBackend
from lma.images.scenes import load_image, read_records
from lma.search.compose import DEFAULT_WEIGHTS, QueryVectors, Weights, query_vectors
from lma.search.matrix import FILTERED, Matrix

FORMAT = 1
MARKER = "lma-search.json"
CHUNK = 4096  # documents embedded and added per batch (under Chroma's largest batch)


class SearchError(LmaError):
    """An index that is missing, empty or of another format, or a query it cannot answer."""


@dataclass
class Hit:
    """One found document: its id, fused score, text, image path (if it had one) and attributes."""

    id: str
    score: float
    text: str
    image: str | None
    color: str
    pattern: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _client(folder: Path) -> Any:
    return chromadb.PersistentClient(path=str(folder / "chroma"), settings=chromadb.Settings(anonymized_telemetry=False))


def _stamp(folder: Path) -> tuple[Any, ...] | None:
    """Inode, size and modification time of Chroma's SQLite database and its journals: every Chroma
    write changes them. None while the last change is under a second old, since file times are
    coarse and a second write within the same tick could leave them as they were (as git's racy
    index entries)."""
    stamps = []
    for name in ("chroma.sqlite3", "chroma.sqlite3-wal", "chroma.sqlite3-journal"):
        try:
            stat = os.stat(folder / "chroma" / name)
        except FileNotFoundError:
            stamps.append(None)
            continue
        if time.time_ns() - stat.st_mtime_ns < 1_000_000_000:
            return None
        stamps.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(stamps)


def _pixels(record: dict[str, Any]) -> np.ndarray:
    image = record["image"]
    return image if isinstance(image, np.ndarray) else load_image(image)


class SearchIndex:
    """An open index and the CLIP backend that embedded it; :meth:`build` makes one, :meth:`open` reopens."""

    def __init__(self, folder: Path, backend: ClipBackend, info: dict[str, Any]):
        self.folder, self.backend, self.info = folder, backend, info
        self.zero_shot = ZeroShot(backend)
        client = _client(folder)
        self.images = client.get_collection("images", embedding_function=None)
        self.texts = client.get_collection("texts", embedding_function=None)
        self._matrix: Matrix | None = None  # loaded at the first search
        self._stamp: tuple[Any, ...] | None = None  # Chroma's database when the matrix was last checked

    @classmethod
    def build(cls, documents: str | Path | Sequence[dict[str, Any]], out: str | Path, clip: str | Path | None = None,
              backend: ClipBackend | None = None) -> SearchIndex:
        """Embed ``documents`` with the CLIP in ``clip`` (default: the shipped small CLIP) into a new
        index folder ``out``; ``backend`` may pass that CLIP already loaded."""
        out = Path(out)
        if out.exists():
            raise SearchError(f"{out} already exists: choose a new folder for the index")
        records = read_records(documents) if isinstance(documents, (str, Path)) else list(documents)
        if not records:
            raise SearchError("no documents to index")
        backend = backend or load_clip(clip)
        zero_shot = ZeroShot(backend)
        tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        client = _client(tmp)
        space = {"hnsw": {"space": "cosine"}}
        images = client.create_collection("images", embedding_function=None, configuration=space)
        texts = client.create_collection("texts", embedding_function=None, configuration=space)
        parts = []
        for start in range(0, len(records), CHUNK):
            chunk = records[start:start + CHUNK]
            ids = [str(r.get("id", start + i)) for i, r in enumerate(chunk)]
            image_emb = backend.encode_image([_pixels(r) for r in chunk])
            text_emb = backend.encode_text([r["text"] for r in chunk])
            colors, patterns = zero_shot.predict(image_emb, "color"), zero_shot.predict(image_emb, "pattern")
            metas = [{"text": r["text"], "color": c, "pattern": p,
                      **({"image": str(r["image"])} if not isinstance(r["image"], np.ndarray) else {})}
                     for r, c, p in zip(chunk, colors, patterns)]
            images.add(ids=ids, embeddings=image_emb, metadatas=metas)
            texts.add(ids=ids, embeddings=text_emb, metadatas=metas)
            parts.append(Matrix.of(ids, image_emb, text_emb, metas))
        Matrix.concat(parts).save(tmp)
        info = {"format": FORMAT, "clip": None if clip is None else str(Path(clip).resolve()), "dim": backend.dim,
                "documents": images.count()}
        del images, texts, client
        (tmp / MARKER).write_text(json.dumps(info, indent=1) + "\n")
        tmp.rename(out)
        return cls(out, backend, info)

    @classmethod
    def open(cls, folder: str | Path, backend: ClipBackend | None = None) -> SearchIndex:
        """Reopen an index with the CLIP it was built with (or ``backend``, which must match it)."""
        folder = Path(folder)
        try:
            info = json.loads((folder / MARKER).read_text())
        except (OSError, ValueError) as exc:
            raise SearchError(f"{folder} is not a search index (no readable {MARKER}: {exc})") from None
        if info.get("format") != FORMAT:
            raise SearchError(f"{folder} is an index of format {info.get('format')}; this lma reads format {FORMAT}")
        backend = backend or load_clip(info.get("clip"))
        if backend.dim != info.get("dim"):
            raise SearchError(f"{folder} was embedded in {info.get('dim')} dimensions, but {backend.name} "
                              f"gives {backend.dim}")
        return cls(folder, backend, info)

    def __len__(self) -> int:
        return int(self.images.count())

    def vectors(self, image: np.ndarray | None = None, text: str | None = None,
                weights: Weights = DEFAULT_WEIGHTS) -> QueryVectors:
        """A query's vectors (the embedding step, apart, so it can be timed apart)."""
        if image is None and not (text or "").strip():
            raise SearchError("a search needs a picture, a text, or both")
        return query_vectors(self.backend, self.zero_shot, image, text, weights)

    def search(self, image: np.ndarray | None = None, text: str | None = None, color: str | None = None,
               pattern: str | None = None, k: int = 10, weights: Weights = DEFAULT_WEIGHTS) -> list[Hit]:
        """The ``k`` best documents for a picture, a text or both, among those of ``color`` / ``pattern``."""
        return self.search_vectors(self.vectors(image, text, weights), color, pattern, k, weights)

    def search_vectors(self, query: QueryVectors, color: str | None = None, pattern: str | None = None,
                       k: int = 10, weights: Weights = DEFAULT_WEIGHTS) -> list[Hit]:
        """:meth:`search` from query vectors already made."""
        if k < 1:
            raise SearchError("k must be at least 1")
        filters = self._filters(color, pattern)
        matrix = self._current()
        for rebuilt in (False, True):
            found = matrix.top(query, weights, k, filters)
            rows = self.images.get(ids=[i for i, _ in found], include=["metadatas"]) if found else {"ids": []}
            meta_of = dict(zip(rows["ids"], rows["metadatas"]))
            if len(meta_of) == len(found):
                return [self._hit(i, score, meta_of[i]) for i, score in found]
            if not rebuilt:  # a hit is gone from Chroma: the matrix is stale although the count matched
                matrix = self._rebuild()
        raise SearchError(f"the index {self.folder} changed during the search: search again")

    def _current(self) -> Matrix:
        """The matrix, checked against Chroma's count only when Chroma's database changed since the
        last check (a count costs ~30 ms at 100k documents, a stat microseconds); reloaded when
        another process saved a new one, rebuilt from Chroma when none holds the count."""
        stamp = _stamp(self.folder)
        if self._matrix is not None and stamp is not None and stamp == self._stamp:
            return self._matrix
        count = len(self)
        if count == 0:
            raise SearchError(f"the index {self.folder} is empty: nothing to search")
        if self._matrix is None or len(self._matrix) != count:
            saved = Matrix.load(self.folder)
            self._matrix = saved if saved is not None and len(saved) == count else self._rebuild()
        self._stamp = stamp  # taken before the count: a write since then changes it again
        return self._matrix

    def _rebuild(self) -> Matrix:
        """The matrix read afresh from Chroma, saved for other processes when the folder allows."""
        self._matrix = Matrix.from_chroma(self.images, self.texts)
        try:
            self._matrix.save(self.folder)
        except OSError as exc:  # a read-only index: the rebuilt matrix serves this process only
            warnings.warn(f"could not save the rebuilt matrix of {self.folder} ({exc}); it will be rebuilt "
                          "again by the next process", stacklevel=4)
        return self._matrix

    @staticmethod
    def _filters(color: str | None, pattern: str | None) -> dict[str, str]:
        filters = {name: value for name, value in zip(FILTERED, (color, pattern)) if value is not None}
        for name, value in filters.items():
            if value not in VALUES[name]:
                raise SearchError(f"unknown {name} {value!r}; known: {', '.join(VALUES[name])}")
        return filters

    @staticmethod
    def _hit(doc_id: str, score: float, meta: dict[str, Any]) -> Hit:
        meta = dict(meta)
        return Hit(doc_id, score, meta.pop("text", ""), meta.pop("image", None), meta.pop("color", ""),
                   meta.pop("pattern", ""), meta)
