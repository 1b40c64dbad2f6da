"""What lma's small unCLIP does, measured: generation, text diffs, interpolations, variations, binding.

    python benchmarks/unclip_eval.py [--model DIR] [--n 12] [--steps N] [--grid docs/img/unclip_grid.png]

Two judges, both independent of the decoder's training loss:

* **pixel colour** (a rule, no model): a 3x3 median filter removes the decoder's isolated speckle,
  then every strongly saturated pixel votes for the palette colour nearest to it and the colour with
  most votes wins; the drawn objects are solid saturated regions, the background is pale, so
  neither its tint nor its noise counts. For two-object scenes the same rule runs on each half of
  the image along the relation's axis (the top half must hold the object said to be "above"). Its
  accuracy on the *real* rendered scenes is printed beside it;
* **CLIP zero-shot** (:mod:`lma.images.attributes`) for shape and count, with the same small CLIP
  the unCLIP was trained on; its accuracy on the *real* rendered scenes is printed beside as the
  judge's own ceiling.

Measured: (1) attribute accuracy of images generated for seen and for held-out captions (the
colour-shape pairs the models never saw); (2) text diff "red -> green" on rendered red objects:
share whose colour becomes green and whose shape stays; (3) interpolation red object -> blue
object: share of pairs whose CLIP "blue minus red" score rises monotonically with t; (4)
variations: attributes kept while pixels differ; (5) DALL-E 2's stated limit: binding accuracy of
two-object relational captions against colour accuracy of one-object captions; (6) CPU latency
per image. Prints a Markdown table; writes a picture grid.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import median_filter

from lma.images import unclip
from lma.images.attributes import ZeroShot
from lma.images.scenes import (COLORS, HELD_OUT_PAIRS, SHAPES, Shape, make_scenes, relation_caption, render,
                               single_caption)

PALETTE = np.array(list(COLORS.values()), dtype=int)
# The palette's least saturated colours (green, purple) have max - min = 140; the background is pale.
SATURATED = 90
NEAR = 150  # L1 distance within which a pixel counts as that palette colour


def pixel_colour(image: np.ndarray) -> str | None:
    """The palette colour most saturated pixels are nearest to (None when too few are drawn)."""
    pixels = median_filter(image, size=(3, 3, 1)).reshape(-1, 3).astype(int)
    strong = pixels[pixels.max(1) - pixels.min(1) >= SATURATED]
    distance = np.abs(strong[:, None, :] - PALETTE[None]).sum(2)
    votes = np.bincount(distance.argmin(1)[distance.min(1) < NEAR], minlength=len(PALETTE))
    return list(COLORS)[int(votes.argmax())] if votes.max() >= 8 else None


def halves(image: np.ndarray, relation: str) -> tuple[np.ndarray, np.ndarray]:
    """The half of the image holding the first object of ``relation``, and the other half."""
    h, w = image.shape[:2]
    top, bottom, left, right = image[: h // 2], image[h // 2:], image[:, : w // 2], image[:, w // 2:]
    return {"above": (top, bottom), "below": (bottom, top), "left of": (left, right), "right of": (right, left)}[relation]


def share(flags: list[bool]) -> str:
    return f"{np.mean(flags):.0%} ({sum(flags)}/{len(flags)})" if flags else "n/a"


class Judge:
    """Zero-shot shape and count on CLIP embeddings of images (uint8 arrays)."""

    def __init__(self, backend: unclip.UnclipBackend):
        self.clip = backend.clip  # type: ignore[attr-defined]  # the small unCLIP's own CLIP
        self.zero = ZeroShot(self.clip)

    def predict(self, images: list[np.ndarray], attribute: str) -> list:
        return self.zero.predict(self.clip.encode_image(images), attribute)


def decode(backend, embeddings: list[np.ndarray], seed: int) -> list[np.ndarray]:  # noqa: ANN001
    return [np.asarray(im) for im in backend.decode_batch(np.stack(embeddings), seed)]


def generation(backend, judge: Judge, n: int, rows: list[str], grid: list) -> None:  # noqa: ANN001
    captions = {"seen": [], "held-out": []}
    for (color, shape), count in itertools.product(itertools.product(COLORS, SHAPES), (1, 2, 3)):
        held = (color, shape) in HELD_OUT_PAIRS
        captions["held-out" if held else "seen"].append((single_caption(color, shape, "plain", count), color, shape, count))
    rng = np.random.default_rng(0)
    for split, pool in captions.items():
        picked = [pool[i] for i in rng.choice(len(pool), size=min(n, len(pool)), replace=False)]
        images = decode(backend, [backend.prior_embedding(c[0], 0) for c in picked], seed=1)
        real = [make_real(c[1], c[2], c[3], i) for i, c in enumerate(picked)]
        colour = [pixel_colour(im) == c[1] for im, c in zip(images, picked)]
        shape = [p == c[2] for p, c in zip(judge.predict(images, "shape"), picked)]
        count = [p == c[3] for p, c in zip(judge.predict(images, "count"), picked)]
        ceiling_colour = [pixel_colour(im) == c[1] for im, c in zip(real, picked)]
        ceiling_shape = [p == c[2] for p, c in zip(judge.predict(real, "shape"), picked)]
        ceiling_count = [p == c[3] for p, c in zip(judge.predict(real, "count"), picked)]
        rows.append(f"| generation, {split} captions | colour {share(colour)}; shape {share(shape)}; "
                    f"count {share(count)} | judges on real scenes: colour {share(ceiling_colour)}, "
                    f"shape {share(ceiling_shape)}, count {share(ceiling_count)} |")
        grid.append((f"generated ({split})", images[:8]))


def make_real(color: str, shape: str, count: int, seed: int) -> np.ndarray:
    """A rendered plain scene of exactly this colour, shape and count (the scene set's layout)."""
    rng = np.random.default_rng(seed)
    if count == 1:
        centres, r = [(0.5 + rng.uniform(-0.1, 0.1), 0.5 + rng.uniform(-0.1, 0.1))], 0.34
    else:
        cells = [(0.28, 0.28), (0.72, 0.28), (0.28, 0.72), (0.72, 0.72)]
        centres, r = [cells[i] for i in rng.permutation(4)[:count]], 0.18
    return render(tuple(Shape(color, shape, "plain", x, y, r) for x, y in centres), 32)


def text_diff(backend, judge: Judge, n: int, rows: list[str], grid: list) -> None:  # noqa: ANN001
    shapes = [SHAPES[i % len(SHAPES)] for i in range(n)]
    sources = [make_real("red", s, 1, i) for i, s in enumerate(shapes)]
    z = [backend.embed_image(Image.fromarray(im)) for im in sources]
    for amount in (0.0, 0.5):
        moved = [unclip.text_diff_embedding(backend, zi, f"a red {s}", f"a green {s}", amount) if amount else zi
                 for zi, s in zip(z, shapes)]
        images = decode(backend, moved, seed=2)
        green = [pixel_colour(im) == "green" for im in images]
        kept = [p == s for p, s in zip(judge.predict(images, "shape"), shapes)]
        both = [g and k for g, k in zip(green, kept)]
        label = "text diff red -> green, amount 0.5" if amount else "baseline: same embedding decoded (amount 0)"
        rows.append(f"| {label} | turned green {share(green)}; shape kept {share(kept)}; both {share(both)} | |")
        if amount:
            grid.append(("red sources", sources[:8]))
            grid.append(("red -> green", images[:8]))


def interpolation(backend, judge: Judge, n: int, rows: list[str], grid: list) -> None:  # noqa: ANN001
    ts = np.linspace(0, 1, 5)
    axis = judge.zero.vectors["color"][list(COLORS).index("blue")] - judge.zero.vectors["color"][list(COLORS).index("red")]
    monotone, ends = [], []
    for i in range(n):
        a, b = make_real("red", SHAPES[i % 3], 1, i), make_real("blue", SHAPES[(i + 1) % 3], 1, i + 50)
        za, zb = backend.embed_image(Image.fromarray(a)), backend.embed_image(Image.fromarray(b))
        images = decode(backend, [unclip.slerp(za, zb, float(t)) for t in ts], seed=3)
        scores = judge.clip.encode_image(images) @ axis
        monotone.append(bool(np.all(np.diff(scores) >= -1e-3)))
        ends.append(pixel_colour(images[0]) == "red" and pixel_colour(images[-1]) == "blue")
        if i == 0:
            grid.append(("red -> blue, t = 0 ... 1", images))
    rows.append(f"| interpolation red -> blue (5 values of t) | CLIP blue-red score monotonic in t {share(monotone)}; "
                f"ends red and blue {share(ends)} | |")


def variations(backend, judge: Judge, n: int, rows: list[str], grid: list) -> None:  # noqa: ANN001
    scenes = [s for s in make_scenes(10 * n, seed=77, relation_share=0.0) if s.attributes["pattern"] == "plain"][:n]
    sources = [s.render(32) for s in scenes]
    z = [backend.embed_image(Image.fromarray(im)) for im in sources]
    first, second = decode(backend, z, seed=4), decode(backend, z, seed=5)
    colour = [pixel_colour(v) == s.attributes["color"] for v, s in zip(first, scenes)]
    shape = [p == s.attributes["shape"] for p, s in zip(judge.predict(first, "shape"), scenes)]
    differ = [float(np.abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(first, second)]
    rows.append(f"| variations (2 seeds per source) | colour kept {share(colour)}; shape kept {share(shape)} | "
                f"mean pixel difference between two variations {np.mean(differ):.1f}/255 |")
    grid.append(("sources", sources[:8]))
    grid.append(("variations", first[:8]))


def binding(backend, n: int, rows: list[str], grid: list) -> None:  # noqa: ANN001
    rng = np.random.default_rng(5)
    colours = list(COLORS)
    rel, single = [], []
    rel_images = []
    for i in range(n):
        ca, cb = rng.choice(len(colours), size=2, replace=False)
        sa, sb = rng.choice(SHAPES), rng.choice(SHAPES)
        relation = ("above", "below", "left of", "right of")[i % 4]
        caption = relation_caption((colours[ca], sa), relation, (colours[cb], sb))
        image = decode(backend, [backend.prior_embedding(caption, 0)], seed=6 + i)[0]
        first, other = halves(image, relation)
        rel.append(pixel_colour(first) == colours[ca] and pixel_colour(other) == colours[cb])
        rel_images.append(image)
        one = decode(backend, [backend.prior_embedding(single_caption(colours[ca], sa), 0)], seed=6 + i)[0]
        single.append(pixel_colour(one) == colours[ca])
    rows.append(f"| binding: two-object relational captions | both colours in the right places {share(rel)} | "
                f"one-object captions, colour right: {share(single)} |")
    grid.append(("relational captions", rel_images[:8]))


def latency(backend, rows: list[str]) -> None:  # noqa: ANN001
    z = backend.prior_embedding("a red circle", 0)
    backend.decode(z, 0)
    times = []
    for seed in range(3):
        start = time.perf_counter()
        backend.decode(z, seed)
        times.append(time.perf_counter() - start)
    batch_start = time.perf_counter()
    backend.decode_batch(np.stack([z] * 16), 0)
    per = (time.perf_counter() - batch_start) / 16
    steps = backend.steps or backend.decoder.cfg.sample_steps
    rows.append(f"| latency, CPU ({steps} DDIM steps, guidance) | {np.median(times) * 1000:.0f} ms per image alone | "
                f"{per * 1000:.0f} ms per image in a batch of 16 |")


def save_grid(grid: list, path: Path, scale: int = 2) -> None:
    tile = 32 * scale
    width = max(len(images) for _, images in grid)
    canvas = Image.new("RGB", (width * tile, len(grid) * tile), (255, 255, 255))
    for r, (_, images) in enumerate(grid):
        for c, im in enumerate(images[:width]):
            canvas.paste(Image.fromarray(im).resize((tile, tile), Image.Resampling.NEAREST), (c * tile, r * tile))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, optimize=True)
    print("grid rows, top to bottom: " + "; ".join(label for label, _ in grid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="small unCLIP folder (default: the shipped one)")
    parser.add_argument("--n", type=int, default=12, help="images per measurement (default 12)")
    parser.add_argument("--steps", type=int, help="DDIM sampling steps (default: the model's)")
    parser.add_argument("--grid", default="docs/img/unclip_grid.png")
    args = parser.parse_args()
    backend = unclip.load(args.model, device="cpu", steps=args.steps)
    judge = Judge(backend)
    rows = ["| measurement | result | beside it |", "|---|---|---|"]
    grid: list = []
    start = time.perf_counter()
    for measure in (generation, text_diff, interpolation, variations):
        measure(backend, judge, args.n, rows, grid)
    binding(backend, args.n, rows, grid)
    latency(backend, rows)
    print("\n".join(rows))
    print(f"({time.perf_counter() - start:.0f} s in all)")
    save_grid(grid, Path(args.grid))


if __name__ == "__main__":
    main()
