"""A multimodal index in Chroma: each document's image and text embeddings, its colour and pattern.

An index is a folder::

    lma-search.json   {"format": 1, "clip": CLIP folder or null (the shipped one), "dim", "documents"}
    chroma/           two collections, ``images`` and ``texts`` (cosine HNSW), same ids

The marker is written last and the folder is built beside its final name, then renamed, so an
interrupted build never leaves a folder that opens as an index. Documents come from a dataset
folder (:mod:`lma.images.scenes`' format: ``data.jsonl`` with ``image`` and ``text``, optional
``id``) or as dicts whose ``image`` is a path or an H x W x 3 array.

A search asks each collection for its nearest candidates under the attribute filter, then
rescores their union exactly with the fused score of :mod:`lma.search.compose`.
"""

from __future__ import annotations

import json
import os
import shutil
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
        if len(self) == 0:
            raise SearchError(f"the index {self.folder} is empty: nothing to search")
        where = self._where(color, pattern)
        n = min(len(self), max(100, 10 * k))
        ids: dict[str, None] = {}
        probes = [(self.images, query.main), (self.texts, query.main)]
        if query.modifier is not None:
            probes.append((self.texts, query.modifier))
        for collection, vector in probes:
            found = collection.query(query_embeddings=[vector], n_results=n, where=where, include=[])
            ids.update(dict.fromkeys(found["ids"][0]))
        if not ids:
            return []
        wanted = list(ids)
        image_rows = self.images.get(ids=wanted, include=["embeddings", "metadatas"])
        text_rows = self.texts.get(ids=wanted, include=["embeddings"])
        text_of = dict(zip(text_rows["ids"], np.asarray(text_rows["embeddings"])))
        img = np.asarray(image_rows["embeddings"])
        txt = np.stack([text_of[i] for i in image_rows["ids"]])
        score = weights.image * img @ query.main + (1 - weights.image) * txt @ query.main
        if query.modifier is not None:
            score = score + weights.modifier * txt @ query.modifier
        order = np.argsort(-score)[:k]
        return [self._hit(image_rows["ids"][i], float(score[i]), image_rows["metadatas"][i]) for i in order]

    @staticmethod
    def _where(color: str | None, pattern: str | None) -> dict[str, Any] | None:
        clauses = []
        for name, value in (("color", color), ("pattern", pattern)):
            if value is None:
                continue
            if value not in VALUES[name]:
                raise SearchError(f"unknown {name} {value!r}; known: {', '.join(VALUES[name])}")
            clauses.append({name: value})
        return None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}

    @staticmethod
    def _hit(doc_id: str, score: float, meta: dict[str, Any]) -> Hit:
        meta = dict(meta)
        return Hit(doc_id, score, meta.pop("text", ""), meta.pop("image", None), meta.pop("color", ""),
                   meta.pop("pattern", ""), meta)
