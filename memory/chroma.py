"""``chroma``: long-term memory in Chroma, embedded on disk or on a Chroma server.

Specs (see :func:`lma.memory.make_memory`): ``chroma`` (the store ``default``), ``chroma:NAME``
(a store under ``$LMA_HOME/memory/NAME``, ``LMA_HOME`` defaulting to ``~/.lma``; a path with a
``/`` is used as is) or ``chroma+http://HOST:PORT`` (a server started with ``chroma run``).

An embedded store is a folder::

    lma-memory.json     format marker: {"format": 1, "embedding": "lma-minilm", "dim": 384}
    chroma/             Chroma's PersistentClient files (sqlite + HNSW index)
    images/<id>.png     images of observation items
    lock, generation    the cross-process lock and a write counter

Several processes may share one embedded store (parallel episodes). Chroma's embedded mode does
not guard its on-disk index against several writers (unguarded, concurrent writers were seen to
lose embeddings here), so every access takes an ``flock`` on ``lock``: shared to read, exclusive
to write. A writer closes its client before releasing the lock, so the index on disk is complete,
and bumps ``generation``; a process that sees a new generation reopens its client before reading.
A server needs none of this: it serialises writes itself.

A folder without the marker, a marker of another format, or files Chroma cannot read give a
:class:`MemoryStoreError` naming the folder, never a silently empty memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.api.types import EmbeddingFunction
from chromadb.utils.embedding_functions import register_embedding_function

from lma.errors import LmaError
from lma.memory.base import Memory, MemoryItem
from lma.memory.embedding import TEXT_DIM, TEXT_MODEL, EmbeddingModelError, ImageEncoder, embed_texts
from lma.memory.store_files import MemoryStoreError, check_format, file_lock, write_atomic

FORMAT = 1
MARKER = "lma-memory.json"
SCALARS = (str, int, float, bool)


def lma_home() -> Path:
    return Path(os.environ.get("LMA_HOME") or "~/.lma").expanduser()


def store_path(name: str) -> Path:
    """Where the embedded store ``name`` lives."""
    return Path(name).expanduser() if "/" in name else lma_home() / "memory" / name


def to_record(item: MemoryItem) -> dict[str, Any]:
    """Chroma metadata for an item: scalar fields for filters, plus the whole item as JSON."""
    meta = {k: v for k, v in item.metadata.items() if isinstance(v, SCALARS)}
    full = {"kind": item.kind, "created": item.created, "image_path": item.image_path, "metadata": item.metadata}
    meta.update(kind=item.kind, created=item.created, lma_item=json.dumps(full, default=str))
    return meta


def from_record(item_id: str, text: str, meta: dict[str, Any] | None, distance: float | None) -> MemoryItem:
    """The item back; a record written by another Chroma client becomes a note with its metadata."""
    meta = meta or {}
    full = json.loads(meta["lma_item"]) if "lma_item" in meta else {"kind": meta.get("kind", "note"), "metadata": meta}
    score = None if distance is None else 1.0 - float(distance)
    return MemoryItem(text or "", full["kind"], full["metadata"], full.get("image_path"), id=item_id,
                      created=full.get("created", 0.0), score=score)


def chroma_where(where: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{"env": e, "outcome": ["success", "failure"]}`` -> Chroma's filter syntax."""
    if not where:
        return None
    clauses = [{k: {"$in": list(v)} if isinstance(v, (list, tuple, set)) else v} for k, v in where.items()]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@register_embedding_function
class MiniLMEmbedding(EmbeddingFunction):
    """lma's text embedding as a Chroma embedding function, registered as ``lma-minilm``.

    Every collection lma opens is given this function (Chroma's default would download a
    model). Chroma stores its name and config with the collection, so any process that has
    imported this module can reopen the collection, even without passing the function.
    """

    def __init__(self) -> None:
        pass

    def __call__(self, input: list[str]) -> list[np.ndarray]:
        return list(embed_texts(list(input)))

    @staticmethod
    def name() -> str:
        return "lma-minilm"

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine", "l2", "ip"]

    def get_config(self) -> dict[str, Any]:
        return {"model": TEXT_MODEL, "dim": TEXT_DIM}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        if config.get("model", TEXT_MODEL) != TEXT_MODEL:
            raise EmbeddingModelError(f"collection was embedded with {config.get('model')!r}, not {TEXT_MODEL}")
        return MiniLMEmbedding()


class ChromaMemory(Memory):
    """Long-term memory in one Chroma collection; see the module docstring."""

    name = "chroma"

    def __init__(self, target: str = "default", *, collection: str = "lma", lock_timeout: float = 60.0,
                 image_encoder: ImageEncoder | None = None, **_: Any):
        if len(collection) < 3:
            raise MemoryStoreError(f"collection name {collection!r} is too short (Chroma needs 3 characters or more)")
        self.target, self.collection_name = target, collection
        self.lock_timeout, self.image_encoder = float(lock_timeout), image_encoder
        self.server = target.startswith(("http://", "https://"))
        self.name = f"chroma+{target}" if self.server else f"chroma:{target}"
        self._thread_lock = threading.RLock()
        self._client: Any = None
        self._collections: dict[str, Any] = {}
        self._generation = -1
        if self.server:
            url = urlsplit(target)
            self.host, self.port = url.hostname or "127.0.0.1", url.port or 8000
            self.root = lma_home() / "memory" / f"server-{self.host}-{self.port}"
            self._open()
        else:
            self.root = store_path(target)
            self._init_store()
        self.images = self.root / "images"

    # -- the store on disk ------------------------------------------------------------------

    def _init_store(self) -> None:
        marker = self.root / MARKER
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MemoryStoreError(f"cannot create memory store {self.root}: {exc.strerror}") from None
        with self._locked(exclusive=True):
            if not marker.exists():
                if any(p.name not in ("lock", "generation") for p in self.root.iterdir()):
                    raise MemoryStoreError(f"{self.root} is not an lma memory store (no {MARKER}); "
                                           "choose another name or remove the folder")
                write_atomic(marker, json.dumps({"format": FORMAT, "embedding": "lma-minilm", "dim": TEXT_DIM}))
            check_format(marker, FORMAT, f"memory store {self.root}")

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        """The cross-process lock of an embedded store (a no-op for a server)."""
        with self._thread_lock:
            if self.server:
                yield
                return
            with file_lock(self.root / "lock", exclusive, self.lock_timeout, f"memory store {self.root}"):
                yield

    def _read_generation(self) -> int:
        try:
            return int((self.root / "generation").read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    # -- the Chroma client ------------------------------------------------------------------

    def _open(self) -> None:
        settings = chromadb.Settings(anonymized_telemetry=False)
        try:
            if self.server:
                self._client = chromadb.HttpClient(host=self.host, port=self.port, settings=settings)
                self._client.heartbeat()
            else:
                self._client = chromadb.PersistentClient(path=str(self.root / "chroma"), settings=settings)
        except Exception as exc:
            self._client = None
            if self.server:
                raise MemoryStoreError(f"no Chroma server answers at {self.target} ({type(exc).__name__}); start one "
                                       f"with `chroma run --host {self.host} --port {self.port} --path DIR`") from None
            raise MemoryStoreError(f"memory store {self.root} is corrupted or unreadable by Chroma: {exc}") from None
        self._collections = {}

    def _close_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client, self._collections = None, {}

    def _collection(self, suffix: str = "") -> Any:
        """The (cached) collection; an embedded store reopens when another process wrote."""
        if not self.server:
            generation = self._read_generation()
            if generation != self._generation or self._client is None:
                self._close_client()
                self._open()
                self._generation = generation
        name = self.collection_name + suffix
        if name not in self._collections:
            try:
                self._collections[name] = self._client.get_or_create_collection(
                    name,
                    embedding_function=None if suffix else MiniLMEmbedding(),
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"lma_format": FORMAT},
                )
            except LmaError:
                raise
            except Exception as exc:
                raise MemoryStoreError(f"cannot open collection {name!r} in {self.name}: {exc}") from None
            found = (self._collections[name].metadata or {}).get("lma_format")
            if found != FORMAT:
                del self._collections[name]
                raise MemoryStoreError(f"collection {name!r} in {self.name} has lma format {found}, expected {FORMAT}")
        return self._collections[name]

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Exclusive access; afterwards the index is flushed and other processes are told to reopen."""
        with self._locked(exclusive=True):
            try:
                yield
            finally:
                if not self.server:
                    self._close_client()
                    write_atomic(self.root / "generation", str(self._read_generation() + 1))

    # -- the Memory protocol ----------------------------------------------------------------

    def write(self, item: MemoryItem) -> None:
        self.write_many([item])

    def write_many(self, items: list[MemoryItem], embeddings: np.ndarray | None = None,
                   image_embeddings: np.ndarray | None = None) -> None:
        """Store items durably in one locked batch; ``embeddings`` skips embedding (benchmarks),
        ``image_embeddings`` (one row per item with an image) skips the image encoder."""
        if not items:
            return
        for item in items:
            self._save_image(item)
        if embeddings is None:
            embeddings = embed_texts([i.text for i in items])
        with self._writing():
            self._collection().upsert(
                ids=[i.id for i in items], documents=[i.text for i in items],
                metadatas=[to_record(i) for i in items], embeddings=np.asarray(embeddings, dtype=np.float32),
            )
            pictures = [i for i in items if i.image is not None and self.image_encoder is not None]
            if pictures:
                self._collection("-images").upsert(
                    ids=[i.id for i in pictures], documents=[i.text for i in pictures],
                    metadatas=[to_record(i) for i in pictures],
                    embeddings=self.image_vectors(pictures) if image_embeddings is None else image_embeddings,
                )

    def image_vectors(self, items: list[MemoryItem]) -> np.ndarray:
        """The vision encoder's embeddings of these items' images, one row each."""
        return np.stack([np.asarray(self.image_encoder(i.image), np.float32) for i in items])

    def _save_image(self, item: MemoryItem) -> None:
        if item.image is None or item.image_path:
            return
        from PIL import Image

        self.images.mkdir(parents=True, exist_ok=True)
        path = self.images / f"{item.id}.png"
        Image.fromarray(np.asarray(item.image, dtype=np.uint8)).save(path)
        item.image_path = str(path)

    def recall(self, query: str | np.ndarray, k: int = 3, where: dict[str, Any] | None = None) -> list[MemoryItem]:
        """Items nearest to a text query, or to an image when a vision encoder is configured."""
        if isinstance(query, np.ndarray):
            if self.image_encoder is None:
                raise MemoryStoreError("recall by image needs a vision encoder (image_encoder=...); recall by text")
            return self.recall_vector(np.asarray(self.image_encoder(query), np.float32), k, where, suffix="-images")
        return self.recall_vector(embed_texts([query])[0], k, where)

    def recall_vector(self, vector: np.ndarray, k: int = 3, where: dict[str, Any] | None = None,
                      suffix: str = "") -> list[MemoryItem]:
        """Items nearest to an embedding (the query already embedded)."""
        return self.recall_vectors(np.asarray(vector)[None], k, where, suffix)[0]

    def recall_vectors(self, vectors: np.ndarray, k: int = 3, where: dict[str, Any] | None = None,
                       suffix: str = "") -> list[list[MemoryItem]]:
        """The items nearest to each of several embeddings, in one query."""
        with self._reading():
            return self._query(vectors, k, where, suffix)

    def get(self, ids: list[str]) -> list[MemoryItem]:
        """The stored items among ``ids``, in the order of ``ids``."""
        found = self._get(ids, None, ["documents", "metadatas"])
        items = {i: from_record(i, d, m, None) for i, d, m in zip(found["ids"], found["documents"], found["metadatas"])}
        return [items[i] for i in ids if i in items]

    def vectors_of(self, ids: list[str], where: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
        """The text embeddings of the stored items among ``ids`` that match ``where`` (Chroma
        returns embeddings alone three times faster than with documents and metadata)."""
        found = self._get(ids, where, ["embeddings"])
        return {i: np.asarray(v, np.float32) for i, v in zip(found["ids"], found["embeddings"])}

    def _get(self, ids: list[str], where: dict[str, Any] | None, include: list[str]) -> dict[str, Any]:
        if not ids:
            return {"ids": [], "documents": [], "metadatas": [], "embeddings": []}
        with self._reading():
            try:
                return self._collection().get(ids=list(ids), where=chroma_where(where), include=include)
            except Exception as exc:
                raise MemoryStoreError(f"reading from {self.name} failed: {exc}") from None

    def _reading(self) -> contextlib.AbstractContextManager[None]:
        """A shared lock, or an exclusive one when the client must be reopened: reopening may
        apply Chroma's write log to the index on disk."""
        stale = not self.server and (self._client is None or self._read_generation() != self._generation)
        return self._locked(exclusive=stale)

    def _query(self, vectors: np.ndarray, k: int, where: dict[str, Any] | None,
               suffix: str) -> list[list[MemoryItem]]:
        collection = self._collection(suffix)
        try:
            found = collection.query(query_embeddings=np.asarray(vectors, np.float32), n_results=max(1, k),
                                     where=chroma_where(where), include=["documents", "metadatas", "distances"])
        except Exception as exc:
            raise MemoryStoreError(f"recall from {self.name} failed: {exc}") from None
        columns = zip(found["ids"], found["documents"], found["metadatas"], found["distances"])
        return [[from_record(i, d, m, dist) for i, d, m, dist in zip(*column)] for column in columns]

    def count(self, where: dict[str, Any] | None = None) -> int:
        """How many items are stored (matching ``where``)."""
        with self._reading():
            return len(self._collection().get(where=chroma_where(where), include=[])["ids"])

    def close(self) -> None:
        with self._thread_lock:
            self._close_client()


def from_spec(target: str = "default", **options: Any) -> ChromaMemory:
    return ChromaMemory(target, **options)
