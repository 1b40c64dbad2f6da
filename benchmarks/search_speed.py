"""Search latency at scale: query p50/p95 with the query's embedding excluded and included.

    python benchmarks/search_speed.py [--sizes 10000,100000] [--samples 50] [--clip DIR]

An index is built from 2,000 scene documents embedded by the CLIP (seed 1), then grown to each
size with copies of their embeddings plus small noise (embedding 100k images on 2 shared cores
would take the whole budget; the store's cost depends on the count and dimension, not on where
the vectors came from), with the same colour/pattern labels. Timed, on held-out queries (seed 2):

* ``composed``: a picture + "but <colour>" (three nearest-neighbour probes, exact fused rescoring);
* ``composed+filter``: the same with a colour filter;
* ``text``: a caption alone;
* each ``embedded excluded`` (``search_vectors`` on vectors made beforehand) and ``included``
  (``search``: the picture and texts embedded by the CLIP, the text diff, then the search).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from lma.images.backends import load_clip
from lma.images.scenes import COLORS, make_scenes
from lma.search.index import CHUNK, SearchIndex

BASE = 2000


def pct(samples: list[float]) -> str:
    ms = np.asarray(samples) * 1000
    return f"p50 {np.percentile(ms, 50):7.1f} ms  p95 {np.percentile(ms, 95):7.1f} ms"


def grow(index: SearchIndex, size: int, rng: np.random.Generator) -> None:
    """Add noisy copies of the first BASE documents until the index holds ``size``."""
    base_img = index.images.get(include=["embeddings", "metadatas"], limit=BASE)
    base_txt = dict(zip(*[index.texts.get(ids=base_img["ids"], include=["embeddings"])[k] for k in ("ids", "embeddings")]))
    img = np.asarray(base_img["embeddings"], np.float32)
    txt = np.stack([base_txt[i] for i in base_img["ids"]]).astype(np.float32)
    while len(index) < size:
        n = min(CHUNK, size - len(index))
        pick = rng.integers(BASE, size=n)
        ids = [f"g{len(index) + i}" for i in range(n)]
        for collection, source in ((index.images, img), (index.texts, txt)):
            vectors = source[pick] + rng.normal(0, 0.05, (n, source.shape[1])).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            collection.add(ids=ids, embeddings=vectors, metadatas=[base_img["metadatas"][j] for j in pick])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--clip", help="CLIP folder (default: the shipped small CLIP)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    clip = load_clip(args.clip, device="cpu")
    docs = [{"text": s.text, "image": s.render()} for s in make_scenes(BASE, seed=1)]
    held = make_scenes(args.samples, seed=2, relation_share=0.0)
    pictures = [s.render() for s in held]
    changes = [f"but {rng.choice([c for c in COLORS if c != s.attributes['color']])}" for s in held]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        index = SearchIndex.build(docs, Path(tmp) / "index", args.clip, backend=clip)
        print(f"built {BASE} embedded documents in {time.perf_counter() - start:.1f}s")
        for size in sorted(int(s) for s in args.sizes.split(",")):
            start = time.perf_counter()
            grow(index, size, rng)
            print(f"\n{len(index)} documents (grown in {time.perf_counter() - start:.1f}s)")
            vectors = [index.vectors(p, c) for p, c in zip(pictures, changes)]
            text_vectors = [index.vectors(None, s.text) for s in held]
            runs = {
                "composed, embedding excluded": lambda i, v=vectors: index.search_vectors(v[i], k=10),
                "composed, embedding included": lambda i: index.search(pictures[i], changes[i], k=10),
                "composed+filter, excluded": lambda i, v=vectors: index.search_vectors(v[i], color=changes[i][4:], k=10),
                "text, embedding excluded": lambda i, v=text_vectors: index.search_vectors(v[i], k=10),
                "text, embedding included": lambda i: index.search(None, held[i].text, k=10),
            }
            for name, run in runs.items():
                run(0)  # warm
                samples = []
                for i in range(args.samples):
                    t = time.perf_counter()
                    run(i)
                    samples.append(time.perf_counter() - t)
                print(f"  {name:32s} {pct(samples)}")


if __name__ == "__main__":
    main()
