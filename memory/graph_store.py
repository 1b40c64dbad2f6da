"""The graph behind ``graph`` memory: a small store interface and its embedded implementation.

:class:`GraphStore` is what :mod:`lma.memory.graph` needs from a graph: add the records of new
items durably, say which items are committed, weigh query entities by how specific they are, and
propagate from seed nodes (personalized PageRank). Another store (a graph database server) plugs
in by implementing these methods; :class:`EmbeddedGraphStore` is the default.

The embedded store is a folder beside the memory's vectors::

    lma-graph.json   format marker: {"format": 1, "store": "embedded"}
    graph.jsonl      the log: one JSON line per committed item (its entities, neighbours, episode)
    lock             flock: exclusive to append, shared to read

**Durability.** An append is one ``write`` of whole lines followed by ``fsync``, under the
exclusive lock, so that two processes writing at once interleave whole lines. An item is
committed when its line is complete. A process killed mid-write leaves at most one torn last
line: readers ignore it and the next writer cuts it off, so a kill loses at most the batch being
written, never earlier items. A complete line that does not parse is corruption, reported as a
:class:`MemoryStoreError` naming the file and line, as is a marker of another format.

**The graph in memory** is a ``networkx.Graph`` rebuilt from the log when the store opens and
extended with the lines other processes append (each read checks the log's size: appending is
and cutting a torn last line are all that ever happen to it). Nodes are ``i:ID`` (items), ``e:PHRASE`` (entities), ``img:ID``
(images) and ``ep:KEY`` (episodes); see :func:`edges` for the edges and their weights.

**Propagation** is personalized PageRank computed locally by forward push (Andersen, Chung and
Lang, 2006): only nodes whose residual exceeds ``epsilon`` times their degree are expanded, so a
query costs about the same at 1,000 items as at 100,000, and hub entities ("key", "room"), whose
share per neighbour is tiny, are not expanded at all. PageRank over the whole graph (igraph's PRPACK)
took 280 ms on a synthetic 100k-item graph here; the push took 2 to 4 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import networkx as nx

from lma.memory.store_files import MemoryStoreError, check_format, file_lock, write_atomic

FORMAT = 1
MARKER = "lma-graph.json"
LOG = "graph.jsonl"
COOCCUR_WINDOW = 3  # an entity is linked to the next 3 of its sentence
ALPHA = 0.5  # PageRank's restart probability (HippoRAG's damping of 0.5)
EPSILON = 1e-4  # the push's precision, per unit of degree: enough to rank the top 30 items


@dataclass
class ItemRecord:
    """What the graph keeps of one item: one line of the embedded log.

    ``groups``: its entities, one list per sentence (entities that co-occur); ``objects``: the
    entities of its metadata (what a perceiver saw, in its image when it has one); ``similar``:
    the nearest other items by text embedding, with their cosine; ``image``: whether the item
    has an image node, ``image_similar`` its nearest images; ``episode``: a key shared by the
    items of one episode, or None.
    """

    id: str
    groups: list[list[str]]
    objects: list[str] = field(default_factory=list)
    similar: list[tuple[str, float]] = field(default_factory=list)
    image: bool = False
    image_similar: list[tuple[str, float]] = field(default_factory=list)
    episode: str | None = None


class GraphStore(Protocol):
    """What the graph memory needs from a graph store."""

    def add(self, records: list[ItemRecord]) -> None:
        """Store records durably (before returning); a record for a known id replaces its edges."""

    def committed(self, item_ids: list[str]) -> set[str]:
        """Which of these items are in the graph."""

    def count(self) -> int:
        """How many items the graph holds."""

    def specificity(self, entities: list[str]) -> dict[str, float]:
        """The known ones among these entities, each weighted by 1 / its number of neighbours."""

    def propagate(self, items: dict[str, float], entities: dict[str, float], images: dict[str, float],
                  top: int) -> dict[str, float]:
        """Personalized PageRank from seed items, entities and images (weights need not sum to 1):
        the ``top`` items by the score they receive through the graph, which for a seed item is
        its PageRank less its own restart mass (else every seed would outrank what it leads to)."""

    def close(self) -> None:
        """Release the store."""


def edges(record: ItemRecord) -> Iterator[tuple[str, str, float]]:
    """The weighted edges one item adds (topology discovery): item-entity mentions, entity-entity
    co-occurrence within a sentence (and among the objects), item-item similarity, item-episode,
    and for an image the item-image link, the image's objects and image similarity."""
    item = f"i:{record.id}"
    for group in [*record.groups, record.objects]:
        for i, entity in enumerate(group):
            yield item, f"e:{entity}", 1.0
            for other in group[i + 1 : i + 1 + COOCCUR_WINDOW]:
                yield f"e:{entity}", f"e:{other}", 1.0
    for other, cosine in record.similar:
        yield item, f"i:{other}", float(cosine)
    if record.episode:
        yield item, f"ep:{record.episode}", 1.0
    if record.image:
        image = f"img:{record.id}"
        yield item, image, 1.0
        for entity in record.objects:
            yield image, f"e:{entity}", 1.0
        for other, cosine in record.image_similar:
            yield image, f"img:{other}", float(cosine)


def personalized_pagerank(graph: nx.Graph, seeds: dict[str, float], alpha: float = ALPHA, epsilon: float = EPSILON,
                          strength: dict[str, float] | None = None) -> dict[str, float]:
    """Approximate personalized PageRank by forward push: ``alpha`` is the restart probability,
    seeds are normalised to sum to 1, and each node's score is within ``epsilon`` times its degree
    of the exact value. ``strength``: each node's summed edge weight, if the caller keeps it."""
    if strength is None:
        strength = dict(graph.degree(weight="weight"))
    total = sum(seeds.values())
    adj = graph._adj  # the adjacency dicts: read-only here, and 3x faster than graph[u]
    residual = {u: w / total for u, w in seeds.items() if u in adj and w > 0}
    score: dict[str, float] = {}
    queue = [u for u, r in residual.items() if r >= epsilon * len(adj[u])]
    while queue:
        u = queue.pop()
        r = residual[u]
        neighbours = adj[u]
        if r < epsilon * len(neighbours) or not strength[u]:
            continue
        score[u] = score.get(u, 0.0) + alpha * r
        residual[u] = 0.0
        share = (1.0 - alpha) * r / strength[u]
        for v, d in neighbours.items():
            before = residual.get(v, 0.0)
            after = residual[v] = before + share * d["weight"]
            if after >= epsilon * len(adj[v]) > before:
                queue.append(v)
    return score


class EmbeddedGraphStore:
    """The default store: an append-only JSONL log under ``root``, a networkx graph in memory."""

    def __init__(self, root: Path, lock_timeout: float = 60.0):
        self.root, self.lock_timeout = Path(root), float(lock_timeout)
        self.log = self.root / LOG
        self.graph = nx.Graph()
        self.strength: dict[str, float] = {}  # each node's summed edge weight, for the push
        self._offset = 0  # bytes of the log already in the graph
        self._line = 0
        with self._locked(exclusive=True):
            marker = self.root / MARKER
            if not marker.exists():
                if any(p.name != "lock" for p in self.root.iterdir()):
                    raise MemoryStoreError(f"{self.root} is not an lma graph memory store (no {MARKER}); "
                                           "choose another name or remove the folder")
                write_atomic(marker, json.dumps({"format": FORMAT, "store": "embedded"}))
            check_format(marker, FORMAT, f"graph store {self.root}")
            self.log.touch()
            self._read_new()

    def _locked(self, exclusive: bool) -> contextlib.AbstractContextManager[None]:
        return file_lock(self.root / "lock", exclusive, self.lock_timeout, f"graph store {self.root}")

    # -- the log ----------------------------------------------------------------------------

    def _read_new(self) -> None:
        """Add the complete lines appended since the last read (a torn last line waits)."""
        try:
            with self.log.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError as exc:
            raise MemoryStoreError(f"graph store {self.root} is unreadable: {exc.strerror}") from None
        end = data.rfind(b"\n") + 1
        for raw in data[:end].splitlines():
            self._line += 1
            self._apply(self._parse(raw))
        self._offset += end

    def _parse(self, raw: bytes) -> ItemRecord:
        try:
            fields = json.loads(raw)
            record = ItemRecord(**fields)
            if not isinstance(record.id, str) or not all(isinstance(g, list) for g in [*record.groups, record.objects]):
                raise TypeError("bad field types")
        except (ValueError, TypeError) as exc:
            raise MemoryStoreError(f"graph store {self.log} is corrupted at line {self._line}: {exc}; "
                                   "move the folder away to start a new memory") from None
        return record

    def _apply(self, record: ItemRecord) -> None:
        item = f"i:{record.id}"
        if item in self.graph:  # rewritten: its own edges go (entity co-occurrences stay counted)
            for u, v, w in list(self.graph.edges([item, f"img:{record.id}"], data="weight")):
                self.strength[u] -= w
                self.strength[v] -= w
                self.graph.remove_edge(u, v)
        adj = self.graph._adj
        self.graph.add_node(item)
        self.strength.setdefault(item, 0.0)
        for u, v, w in edges(record):
            if u == v:
                continue
            data = adj[u].get(v) if u in adj else None
            if data is None:
                self.graph.add_edge(u, v, weight=w)
            else:
                data["weight"] += w
            self.strength[u] = self.strength.get(u, 0.0) + w
            self.strength[v] = self.strength.get(v, 0.0) + w

    def _cut_torn_tail(self, fd: int) -> None:
        """Truncate a last line left unfinished by a killed writer (called under the lock)."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        end, keep = size, 0
        while end > 0 and not keep:
            start = max(0, end - (1 << 16))
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            keep, end = (start + newline + 1 if newline >= 0 else 0), start
        os.ftruncate(fd, keep)

    # -- the GraphStore interface -----------------------------------------------------------

    def add(self, records: list[ItemRecord]) -> None:
        if not records:
            return
        data = "".join(json.dumps(asdict(r), separators=(",", ":")) + "\n" for r in records).encode()
        with self._locked(exclusive=True):
            try:
                fd = os.open(self.log, os.O_RDWR | os.O_APPEND)
                try:
                    self._cut_torn_tail(fd)
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise MemoryStoreError(f"cannot write graph store {self.log}: {exc.strerror}") from None
            self._read_new()

    def refresh(self) -> None:
        """Pick up what other processes appended (a size check when nothing was)."""
        try:
            grown = self.log.stat().st_size > self._offset
        except OSError as exc:
            raise MemoryStoreError(f"graph store {self.root} is unreadable: {exc.strerror}") from None
        if grown:
            with self._locked(exclusive=False):
                self._read_new()

    def committed(self, item_ids: list[str]) -> set[str]:
        self.refresh()
        return {i for i in item_ids if f"i:{i}" in self.graph}

    def count(self) -> int:
        """How many items the graph holds."""
        self.refresh()
        return sum(1 for n in self.graph if n.startswith("i:"))

    def specificity(self, entities: list[str]) -> dict[str, float]:
        self.refresh()
        adj = self.graph._adj
        return {e: 1.0 / len(adj[f"e:{e}"]) for e in entities if f"e:{e}" in adj}

    def propagate(self, items: dict[str, float], entities: dict[str, float], images: dict[str, float],
                  top: int) -> dict[str, float]:
        self.refresh()
        seeds = {f"i:{k}": w for k, w in items.items()}
        seeds.update({f"e:{k}": w for k, w in entities.items()})
        seeds.update({f"img:{k}": w for k, w in images.items()})
        total = sum(seeds.values())
        if not total:
            return {}
        scores = personalized_pagerank(self.graph, seeds, strength=self.strength)
        received = ((s - ALPHA * seeds.get(n, 0.0) / total, n[2:]) for n, s in scores.items() if n.startswith("i:"))
        ranked = sorted((r for r in received if r[0] > 0), reverse=True)[:top]
        return {item: s for s, item in ranked}

    def close(self) -> None:
        self.graph, self.strength = nx.Graph(), {}
        self._offset = self._line = 0
