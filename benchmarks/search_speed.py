"""Search latency at scale: query p50/p95 with the query's embedding excluded and included.

    python benchmarks/search_speed.py [--sizes 10000,100000] [--samples 50] [--clip DIR] [--cache DIR]

An index is built from 2,000 scene documents embedded by the CLIP (seed 1), then grown to each
size with copies of their embeddings plus small noise (embedding 100k images on 2 shared cores
would take the whole budget; the store's cost depends on the count and dimension, not on where
the vectors came from), with the same colour/pattern labels. The copies are written to Chroma
directly, so the first search rebuilds the index's matrix from Chroma (timed apart). With
``--cache DIR`` each size's index is kept in ``DIR/<size>`` and reused by later runs.

Timed, on held-out queries (seed 2), each with the embedding excluded (``search_vectors`` on
vectors made beforehand) and included (``search``: the picture and texts embedded by the CLIP,
the text diff, then the search):

* ``composed``: a picture + "but <colour>";
* ``composed+filter``: the same with a colour filter;
* ``text``: a caption alone;

each by the index's exact search (numpy over its matrix) and by the former search, kept here as
the baseline: three Chroma HNSW probes of ``max(100, 10k)`` candidates under Chroma's filter,
then the exact rescoring of their union. ``same top-10`` counts the queries whose ten hits (ids,
in order) the two searches agree on.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lma.images.backends import load_clip
from lma.images.clip import ClipBackend
from lma.images.scenes import COLORS, make_scenes
from lma.search.compose import DEFAULT_WEIGHTS, QueryVectors
from lma.search.index import CHUNK, MARKER, SearchIndex

BASE = 2000


def pct(samples: list[float]) -> str:
    ms = np.asarray(samples) * 1000
    return f"{np.percentile(ms, 50):7.1f} / {np.percentile(ms, 95):7.1f}"


def grow(index: SearchIndex, size: int) -> None:
    """Add noisy copies of the first BASE documents, straight to Chroma, until the index holds ``size``."""
    rng = np.random.default_rng(size)
    base_img = index.images.get(ids=[str(i) for i in range(BASE)], include=["embeddings", "metadatas"])
    txt = np.asarray(index.texts.get(ids=base_img["ids"], include=["embeddings"])["embeddings"], np.float32)
    img = np.asarray(base_img["embeddings"], np.float32)
    while len(index) < size:
        n = min(CHUNK, size - len(index))
        pick = rng.integers(BASE, size=n)
        ids = [f"g{len(index) + i}" for i in range(n)]
        for collection, source in ((index.images, img), (index.texts, txt)):
            vectors = source[pick] + rng.normal(0, 0.05, (n, source.shape[1])).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            collection.add(ids=ids, embeddings=vectors, metadatas=[base_img["metadatas"][j] for j in pick])


def sized(folder: Path, size: int, clip_dir: str | None, clip: ClipBackend) -> SearchIndex:
    """The index of ``size`` documents in ``folder``: reopened if there, else built and grown."""
    if (folder / MARKER).exists():
        index = SearchIndex.open(folder, backend=clip)
    else:
        docs = [{"id": str(i), "text": s.text, "image": s.render()} for i, s in enumerate(make_scenes(BASE, seed=1))]
        index = SearchIndex.build(docs, folder, clip_dir, backend=clip)
    grow(index, size)
    return index


def probes(index: SearchIndex, query: QueryVectors, color: str | None = None, k: int = 10) -> list[str]:
    """The former search (the baseline): HNSW candidates of three probes, their union rescored exactly."""
    n, where, weights = min(len(index), max(100, 10 * k)), {"color": color} if color else None, DEFAULT_WEIGHTS
    ids: dict[str, None] = {}
    for collection, vector in ((index.images, query.main), (index.texts, query.main), (index.texts, query.modifier)):
        if vector is not None:
            found = collection.query(query_embeddings=[vector], n_results=n, where=where, include=[])
            ids.update(dict.fromkeys(found["ids"][0]))
    image_rows = index.images.get(ids=list(ids), include=["embeddings", "metadatas"])
    text_rows = index.texts.get(ids=list(ids), include=["embeddings"])
    text_of = dict(zip(text_rows["ids"], text_rows["embeddings"]))
    img, txt = np.asarray(image_rows["embeddings"]), np.stack([text_of[i] for i in image_rows["ids"]])
    score = weights.image * img @ query.main + (1 - weights.image) * txt @ query.main
    if query.modifier is not None:
        score = score + weights.modifier * txt @ query.modifier
    return [image_rows["ids"][i] for i in np.argsort(-score)[:k]]


def timed(run: Callable[[int], object], samples: int) -> list[float]:
    run(0)  # warm
    times = []
    for i in range(samples):
        start = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - start)
    return times


Run = Callable[[int], object]
Kind = tuple[Sequence[QueryVectors], Sequence["str | None"], Sequence["np.ndarray | None"], Sequence[str]]


def runs(index: SearchIndex, vectors: Sequence[QueryVectors], color: Sequence[str | None],
         picture: Sequence[np.ndarray | None], text: Sequence[str]) -> dict[str, tuple[Run, Run | None]]:
    """One kind of query's timed rows: (the exact search, the probes) for the i-th held-out query."""
    return {
        "embedding excluded": (lambda i: index.search_vectors(vectors[i], color=color[i], k=10),
                               lambda i: probes(index, vectors[i], color[i])),
        "embedding included": (lambda i: index.search(picture[i], text[i], color=color[i], k=10),
                               lambda i: probes(index, index.vectors(picture[i], text[i]), color[i])),
        "embedding alone": (lambda i: index.vectors(picture[i], text[i]), None),
    }


def measure(index: SearchIndex, samples: int) -> None:
    rng = np.random.default_rng(0)
    held = make_scenes(samples, seed=2, relation_share=0.0)
    pictures = [s.render() for s in held]
    changes = [f"but {rng.choice([c for c in COLORS if c != s.attributes['color']])}" for s in held]
    composed = [index.vectors(p, c) for p, c in zip(pictures, changes)]
    no_color: list[str | None] = [None] * samples
    no_picture: list[np.ndarray | None] = [None] * samples
    kinds: dict[str, Kind] = {  # name: (vectors, colour filter, picture, text) of each held-out query
        "composed": (composed, no_color, pictures, changes),
        "composed+filter": (composed, [c[4:] for c in changes], pictures, changes),
        "text": ([index.vectors(None, s.text) for s in held], no_color, no_picture, [s.text for s in held]),
    }
    table: dict[str, list[str]] = {}
    for side in (0, 1):  # every exact timing first: Chroma's work for the probes cannot slow them
        for name, kind in kinds.items():
            for label, pair in runs(index, *kind).items():
                run = pair[side]
                if run is not None:
                    table.setdefault(f"{name}, {label}", []).append(f"{pct(timed(run, samples)):>17s}")
    for name, (vectors, color, _, _) in kinds.items():
        agree = sum([h.id for h in index.search_vectors(v, color=c, k=10)] == probes(index, v, c)
                    for v, c in zip(vectors, color))
        table[f"{name}, embedding excluded"].append(f"  {agree}/{samples}")
    print(f"  {'query (k = 10), p50 / p95 ms':36s} {'exact':>17s} {'probes (before)':>17s}  same top-10")
    for row, cells in table.items():
        print(f"  {row:36s} {' '.join(cells)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--clip", help="CLIP folder (default: the shipped small CLIP)")
    parser.add_argument("--cache", help="keep each size's index in CACHE/<size> and reuse it (default: a temporary folder)")
    args = parser.parse_args()
    clip = load_clip(args.clip, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache or tmp)
        cache.mkdir(parents=True, exist_ok=True)
        for size in sorted(int(s) for s in args.sizes.split(",")):
            start = time.perf_counter()
            index = sized(cache / str(size), size, args.clip, clip)
            ready = time.perf_counter()
            index.search(text="a red circle", k=1)  # loads the matrix, or rebuilds it from Chroma
            print(f"\n{len(index)} documents (index ready in {ready - start:.1f}s; first search, which loads "
                  f"or rebuilds the matrix, {time.perf_counter() - ready:.1f}s)")
            measure(index, args.samples)


if __name__ == "__main__":
    main()
