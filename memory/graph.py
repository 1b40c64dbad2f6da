"""``graph``: long-term memory as a multimodal graph over Chroma vectors, recalled HippoRAG-style.

Specs (see :func:`lma.memory.make_memory`): ``graph`` (the store ``default``) or ``graph:NAME``
(a folder under ``$LMA_HOME/memory/NAME``; a path with a ``/`` is used as is); option
``lock_timeout=SECONDS``. The folder holds the graph store (:mod:`lma.memory.graph_store`) and,
under ``vectors/``, a Chroma store (:mod:`lma.memory.chroma`) with every item and its embedding.

It follows the four stages of multimodal graph learning (Ektefaie et al., 2023):

1. **entity identification** (:mod:`lma.memory.graph_entities`): phrases, names and colour +
   object pairs from the item's text, objects from its metadata; an item with an image gets an
   image node, embedded by the vision encoder when one is configured;
2. **topology discovery** (:func:`lma.memory.graph_store.edges`): item-entity mentions,
   co-occurrence within a sentence, the same entity shared across items and episodes (one node),
   an episode node per episode, and similarity edges to the ``SIMILAR_K`` nearest items
   (cosine >= ``SIMILAR_MIN``) and images;
3. **information propagation**: personalized PageRank from the query's seeds, as HippoRAG 2
   does: the query's entities found in the graph, each weighted by its specificity (1 / degree),
   with ``ENTITY_SHARE`` of the mass, and the ``SEED_ITEMS`` nearest items by vector, weighted by
   their cosine, with the rest. An item's graph score is what it receives through the graph
   (a seed's own restart mass left out, else every vector hit would outrank what it leads to);
4. **representation fusion**: the candidates (the ``CANDIDATES`` best items by graph score, and
   the vector hits) are ranked twice, by graph score and by cosine to the query, and the two
   rankings are merged by weighted reciprocal rank fusion (``FUSION`` on the graph's ranking);
   the best ``k`` are recalled, ``score`` set to the fused value (1: first in both rankings).

The constants were set on seed 0 of ``benchmarks/multihop_recall.py`` and checked on seeds 1-2.

A question whose answer is in an item that shares nothing specific with it ("where is the key of the room
with the silver compass?", answered by "the red room's key is under the box" because another item
says "the silver compass is in the red room") is reached in two hops through the entity they share;
flat vector recall finds the first item only. ``benchmarks/multihop_recall.py`` measures it.

**Writes** go to the vectors first, then the graph; an item is committed (recalled) once its
graph record is written, so a process killed in between leaves a vector that recall ignores.
Both stores lock across processes, so parallel episodes may share one graph memory.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from lma.memory.base import Memory, MemoryItem
from lma.memory.chroma import MARKER as CHROMA_MARKER
from lma.memory.chroma import ChromaMemory, store_path
from lma.memory.embedding import ImageEncoder, embed_texts
from lma.memory.graph_entities import identify, objects_of
from lma.memory.graph_store import EmbeddedGraphStore, GraphStore, ItemRecord
from lma.memory.store_files import MemoryStoreError

SIMILAR_K = 3  # similarity edges per item
SIMILAR_MIN = 0.9  # cosine from which two items are near-duplicates (same template: ~0.8)
SEED_ITEMS = 2  # vector hits that seed the propagation (5 spread the seed mass: 20% on paraphrases)
ENTITY_SHARE = 0.8  # of the seed mass, when the query names known entities (the rest: vector hits)
CANDIDATES = 30  # items ranked by PageRank that compete with the vector hits
FUSION = 0.85  # weight of the PageRank ranking against the cosine ranking in the final score
RRF_K = 2  # reciprocal rank fusion's constant (Cormack et al., 2009)


def episode_key(metadata: dict[str, Any]) -> str | None:
    """What items of one episode share: ``metadata["episode"]``, else env + seed + task."""
    if metadata.get("episode") is not None:
        key = str(metadata["episode"])
    elif all(metadata.get(k) is not None for k in ("env", "seed", "task")):
        key = f"{metadata['env']}|{metadata['seed']}|{metadata['task']}"
    else:
        return None
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def nearest(queries: np.ndarray, keys: np.ndarray, k: int, minimum: float,
            before: bool = False) -> list[list[tuple[int, float]]]:
    """For each query row, the ``k`` rows of ``keys`` with the highest cosine >= ``minimum``;
    ``before``: only rows of a lower index (pairs within one batch, each counted once)."""
    found: list[list[tuple[int, float]]] = []
    for start in range(0, len(queries), 1024):  # bounds the similarity matrix to 1024 rows
        sims = queries[start : start + 1024] @ keys.T
        for row, sim in enumerate(sims, start):
            if before:
                sim = sim[:row]
            best = np.argsort(-sim)[:k]
            found.append([(int(j), float(sim[j])) for j in best if sim[j] >= minimum])
    return found


class GraphMemory(Memory):
    """Long-term memory as an entity graph over vectors; see the module docstring."""

    name = "graph"

    def __init__(self, target: str = "default", *, lock_timeout: float = 60.0,
                 image_encoder: ImageEncoder | None = None, store: GraphStore | None = None, **_: Any):
        self.root = store_path(target)
        self.name = f"graph:{target}"
        self.image_encoder = image_encoder
        if store is None:
            if (self.root / CHROMA_MARKER).exists():
                raise MemoryStoreError(f"{self.root} is a chroma memory store, not a graph one: open it as "
                                       f"chroma:{target}, or choose another name")
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MemoryStoreError(f"cannot create memory store {self.root}: {exc.strerror}") from None
            store = EmbeddedGraphStore(self.root, lock_timeout)
        self.store = store
        self.vectors = ChromaMemory(str(self.root / "vectors"), lock_timeout=lock_timeout,
                                    image_encoder=image_encoder)

    # -- writing: identification and topology ------------------------------------------------

    def write(self, item: MemoryItem) -> None:
        self.write_many([item])

    def write_many(self, items: list[MemoryItem], embeddings: np.ndarray | None = None) -> None:
        """Store items durably in one batch (an episode); ``embeddings`` skips embedding (benchmarks)."""
        if not items:
            return
        vectors = embed_texts([i.text for i in items]) if embeddings is None else np.asarray(embeddings, np.float32)
        pictures = [i for i in items if i.image is not None]
        picture_vectors = self.vectors.image_vectors(pictures) if pictures and self.image_encoder else None
        similar = self._similar(items, vectors, "")
        image_similar = self._similar(pictures, picture_vectors, "-images") if picture_vectors is not None else []
        by_image = {i.id: s for i, s in zip(pictures, image_similar)}
        records = [
            ItemRecord(item.id, identify(item.text), objects_of(item.metadata), near, item.image is not None,
                       by_image.get(item.id, []), episode_key(item.metadata))
            for item, near in zip(items, similar)
        ]
        self.vectors.write_many(items, embeddings=vectors, image_embeddings=picture_vectors)
        self.store.add(records)

    def _similar(self, items: list[MemoryItem], vectors: np.ndarray, suffix: str) -> list[list[tuple[str, float]]]:
        """Each item's nearest committed items (or images) already stored, and earlier ones of
        this batch: the similarity edges."""
        batch = {i.id for i in items}
        stored = self.vectors.recall_vectors(vectors, k=SIMILAR_K + 1, suffix=suffix)  # +1: a rewrite finds itself
        known = self.store.committed(list({m.id for hits in stored for m in hits} - batch))
        within = nearest(vectors, vectors, SIMILAR_K, SIMILAR_MIN, before=True)
        found = []
        for hits, pairs in zip(stored, within):
            near = [(m.id, float(m.score or 0.0)) for m in hits if m.id in known and (m.score or 0.0) >= SIMILAR_MIN]
            near += [(items[j].id, s) for j, s in pairs]
            found.append(sorted(near, key=lambda p: -p[1])[:SIMILAR_K])
        return found

    # -- recall: propagation and fusion -----------------------------------------------------

    def recall(self, query: str | np.ndarray, k: int = 3, where: dict[str, Any] | None = None, *,
               embedding: np.ndarray | None = None) -> list[MemoryItem]:
        """The ``k`` items best connected to a text query (or to an image, with a vision
        encoder); ``embedding`` is the query's text embedding when the caller has it."""
        if isinstance(query, np.ndarray):
            if self.image_encoder is None:
                raise MemoryStoreError("recall by image needs a vision encoder (image_encoder=...); recall by text")
            vector = np.asarray(self.image_encoder(query), np.float32)
            hits = self.vectors.recall_vector(vector, max(k, SEED_ITEMS), where, suffix="-images")
            hits = self._committed(hits)
            ranked = self.store.propagate({}, {}, {m.id: max(m.score or 0.0, 0.0) for m in hits}, CANDIDATES)
            return self._fuse(hits, ranked, None, k, where)
        vector = embed_texts([query])[0] if embedding is None else np.asarray(embedding, np.float32)
        hits = self._committed(self.vectors.recall_vector(vector, max(k, SEED_ITEMS), where))
        items = {m.id: max(m.score or 0.0, 0.0) for m in hits[:SEED_ITEMS]}
        entities = self.store.specificity([e for group in identify(query) for e in group])
        share = ENTITY_SHARE if entities and items else float(bool(entities))  # all to whichever there is
        seeds_items = {i: (1 - share) * w / (sum(items.values()) or 1.0) for i, w in items.items()}
        seeds_entities = {e: share * w / sum(entities.values()) for e, w in entities.items()}
        ranked = self.store.propagate(seeds_items, seeds_entities, {}, CANDIDATES)
        return self._fuse(hits, ranked, vector, k, where)

    def _committed(self, hits: list[MemoryItem]) -> list[MemoryItem]:
        known = self.store.committed([m.id for m in hits])
        return [m for m in hits if m.id in known]

    def _fuse(self, hits: list[MemoryItem], ranked: dict[str, float], vector: np.ndarray | None, k: int,
              where: dict[str, Any] | None) -> list[MemoryItem]:
        """Representation fusion: the PageRank ranking and the cosine ranking of all candidates,
        combined by weighted reciprocal rank fusion, scaled so that first in both scores 1."""
        cosine = {m.id: float(m.score or 0.0) for m in hits}
        reached = self.vectors.vectors_of([i for i in ranked if i not in cosine], where)  # also applies where
        cosine.update({i: float(v @ vector) if vector is not None else 0.0 for i, v in reached.items()})
        fused = dict.fromkeys(cosine, 0.0)
        for weight, order in ((FUSION, sorted(ranked, key=lambda i: -ranked[i])),
                              (1 - FUSION, sorted(cosine, key=lambda i: -cosine[i]))):
            for rank, item_id in enumerate(i for i in order if i in fused):
                fused[item_id] += weight * (RRF_K + 1) / (RRF_K + 1 + rank)
        best = sorted(fused, key=lambda i: -fused[i])[:k]
        items = {m.id: m for m in hits} | {m.id: m for m in self.vectors.get([i for i in best if i in reached])}
        found = [items[i] for i in best if i in items]  # (an item deleted meanwhile is left out)
        for item in found:
            item.score = fused[item.id]
        return found

    def count(self) -> int:
        """How many items are committed."""
        return self.store.count()

    def close(self) -> None:
        self.vectors.close()
        self.store.close()


def from_spec(target: str = "default", **options: Any) -> GraphMemory:
    return GraphMemory(target, **options)

