"""Recall of composed queries ("this, but green") against text-only and image-only retrieval.

    python benchmarks/search_recall.py [--clip DIR] [--queries-seed 2] [--changes 2] [--sweep]

The catalogue holds one product per look (6 colours x 3 shapes x 3 patterns x 1-3 objects = 162),
each drawn once (seed 1), its text the look's caption. A query is a product re-drawn in another
colour (new placement, ``--queries-seed``) plus the change "but <colour>"; the wanted product is
the look in that colour. Neither seed was used to train the small CLIP (seed 0). Rows:

* text only: the change's text alone ("but green");
* image only: the picture alone (it finds the look in the picture's own colour);
* composed, text diff: the picture's embedding moved along green - <its colour> (no text term);
* composed: the text diff fused with the change's text (lma's default query);
* composed + filter: the same with ``color=<the wanted colour>``.

``--grid FILE.png`` also draws four queries: the picture, then the top five composed hits.
``--sweep`` picks the fusion weights on a validation seed (3) and prints the grid; the defaults
of :class:`lma.search.compose.Weights` are the choice it made, and the table uses seed 2.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np

from lma.images.attributes import VALUES
from lma.images.backends import load_clip
from lma.images.scenes import (
    COLORS,
    COUNTS,
    PATTERNS,
    SHAPES,
    draw_single,
    single_caption,
)
from lma.search.compose import Weights
from lma.search.index import SearchIndex

LOOKS = list(itertools.product(COLORS, SHAPES, PATTERNS, COUNTS))


def look_id(look: tuple) -> str:
    return "-".join(map(str, look))


def build(folder: Path, clip_dir: str | None) -> SearchIndex:
    docs = [{"id": look_id(look), "text": single_caption(*look), "image": picture}
            for look, picture in zip(LOOKS, _catalogue_pictures())]
    return SearchIndex.build(docs, folder / "index", clip_dir, backend=load_clip(clip_dir, device="cpu"))


def queries(seed: int, changes: int) -> list[tuple[np.ndarray, str, str]]:
    """(picture, wanted colour, wanted id) for ``changes`` other colours of every look."""
    rng = np.random.default_rng(seed)
    out = []
    for look in LOOKS:
        picture = draw_single(rng, *look).render()
        for target in rng.choice([c for c in COLORS if c != look[0]], size=changes, replace=False):
            out.append((picture, str(target), look_id((str(target), *look[1:]))))
    return out


def recall(index: SearchIndex, cases, mode: str, weights: Weights) -> tuple[float, float]:
    at1 = at10 = 0
    for picture, target, wanted in cases:
        image = None if mode == "text only" else picture
        text = None if mode == "image only" else f"but {target}"
        use = Weights(weights.image, weights.shift, 0.0) if mode == "composed, text diff" else weights
        color = target if mode == "composed + filter" else None
        ids = [h.id for h in index.search(image, text, color=color, k=10, weights=use)]
        at1 += ids[:1] == [wanted]
        at10 += wanted in ids
    return at1 / len(cases), at10 / len(cases)


def grid(index: SearchIndex, cases, path: str) -> None:
    """Rows of [query picture | gap | top-5 composed hits], each image drawn 3x."""
    from PIL import Image

    pictures = {look_id(look): img for look, img in zip(LOOKS, _catalogue_pictures())}
    rows = []
    for picture, target, _ in cases[::len(cases) // 4][:4]:
        hits = index.search(picture, f"but {target}", k=5)
        gap = np.full((32, 8, 3), 255, np.uint8)
        rows.append(np.concatenate([picture, gap, *[pictures[h.id] for h in hits]], axis=1))
    image = np.concatenate([np.pad(r, ((2, 2), (0, 0), (0, 0)), constant_values=255) for r in rows])
    Image.fromarray(image).resize((image.shape[1] * 3, image.shape[0] * 3), Image.Resampling.NEAREST).save(path)


def _catalogue_pictures() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [draw_single(rng, *look).render() for look in LOOKS]


MODES = ("text only", "image only", "composed, text diff", "composed", "composed + filter")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", help="CLIP folder (default: the shipped small CLIP)")
    parser.add_argument("--queries-seed", type=int, default=2)
    parser.add_argument("--changes", type=int, default=2, help="other colours asked of each look")
    parser.add_argument("--grid", metavar="FILE.png", help="draw four queries and their top five hits")
    parser.add_argument("--sweep", action="store_true", help="also choose the weights on seed 3")
    args = parser.parse_args()
    assert set(VALUES["color"]) == set(COLORS)
    with tempfile.TemporaryDirectory() as tmp:
        index = build(Path(tmp), args.clip)
        if args.sweep:
            validation = queries(3, args.changes)
            for shift, modifier in itertools.product((0.5, 1.0, 1.5), (0.0, 0.3)):
                r1, r10 = recall(index, validation, "composed", Weights(0.7, shift, modifier))
                print(f"validation w=0.7 lam={shift} beta={modifier}: R@1 {r1:.3f} R@10 {r10:.3f}", flush=True)
        cases = queries(args.queries_seed, args.changes)
        if args.grid:
            grid(index, cases, args.grid)
        print(f"{len(LOOKS)} products, {len(cases)} held-out composed queries (seed {args.queries_seed})")
        print("| query | recall@1 | recall@10 |\n|---|---|---|")
        for mode in MODES:
            r1, r10 = recall(index, cases, mode, Weights())
            print(f"| {mode} | {r1:.3f} | {r10:.3f} |")
