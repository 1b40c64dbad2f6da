"""A synthetic scene set: coloured, patterned shapes with captions and attribute labels.

No real image-caption data or CLIP weights can be fetched here, so lma trains its small CLIP,
prior and decoder on scenes it draws itself. Two kinds of scene, chosen to test what unCLIP is
said to do well (one object's attributes) and badly (binding attributes to two related objects):

* ``single``: 1-3 copies of one object, e.g. "two striped red circles";
* ``relation``: two plain objects in a spatial relation, e.g. "a red square above a blue circle".

Everything is drawn from a seed, so the same seed gives the same scenes, images and captions.

A dataset is a folder in one format that a user's real data can take too::

    data.jsonl      one JSON object per line: {"image": "images/000000.png", "text": "a red circle",
                    "attributes": {...}}   ("attributes" is optional; only the scene set writes it)
    images/         the PNG files named by "image" (paths relative to the folder)

``attributes`` of a single scene: ``kind``, ``color``, ``shape``, ``pattern``, ``count``; of a
relation scene: ``kind``, ``relation`` and ``objects`` (two dicts of colour, shape, pattern).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw

from lma.errors import LmaError

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220),
    "yellow": (235, 205, 20), "purple": (140, 40, 180), "orange": (245, 130, 10),
}
SHAPES = ("circle", "square", "triangle")
PATTERNS = ("plain", "striped", "dotted")
COUNTS = (1, 2, 3)
RELATIONS = ("above", "below", "left of", "right of")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}
# Colour-shape pairs never drawn in the "train" split, so a model's grasp of them is compositional.
HELD_OUT_PAIRS = frozenset({("green", "triangle"), ("purple", "circle"), ("yellow", "square")})
DATA_FILE = "data.jsonl"
SUPERSAMPLE = 4  # draw this many times larger, then shrink: smooth edges at 32 px
Split = Literal["all", "train", "heldout"]


class DatasetError(LmaError):
    """A dataset folder that is missing, malformed, or names images that are not there."""


@dataclass(frozen=True)
class Shape:
    """One drawn object: what it is and where (centre and radius as fractions of the image)."""

    color: str
    shape: str
    pattern: str
    x: float
    y: float
    r: float


@dataclass(frozen=True)
class Scene:
    """A scene: its objects, its caption and its attribute labels."""

    objects: tuple[Shape, ...]
    text: str
    attributes: dict[str, Any]

    def render(self, size: int = 32) -> np.ndarray:
        """The scene as a ``size`` x ``size`` x 3 uint8 array."""
        return render(self.objects, size)


def _noun(shape: str, count: int) -> str:
    return shape if count == 1 else shape + "s"


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def single_caption(color: str, shape: str, pattern: str = "plain", count: int = 1) -> str:
    """"two striped red circles"; a plain pattern is left unsaid."""
    words = ("" if pattern == "plain" else pattern + " ") + f"{color} {_noun(shape, count)}"
    return _a(words) if count == 1 else f"{NUMBER_WORDS[count]} {words}"


def relation_caption(a: tuple[str, str], relation: str, b: tuple[str, str]) -> str:
    """"a red square above a blue circle" from (colour, shape) pairs."""
    return f"{_a(a[0])} {a[1]} {relation} {_a(b[0])} {b[1]}"


def _texture(color: str, pattern: str, side: int, phase: int) -> Image.Image:
    """A square fill of ``side`` pixels: the colour, striped or dotted with white."""
    fill = Image.new("RGB", (side, side), COLORS[color])
    draw = ImageDraw.Draw(fill)
    step = max(4, side // 4)
    if pattern == "striped":
        for x in range(-side + phase, side, step):
            draw.polygon([(x, 0), (x + step // 2, 0), (x + step // 2 + side, side), (x + side, side)], fill="white")
    elif pattern == "dotted":
        for cy in range(step // 2, side, step):
            for cx in range(step // 2 + phase % step, side, step):
                draw.ellipse([cx - step // 4, cy - step // 4, cx + step // 4, cy + step // 4], fill="white")
    return fill


def _mask(shape: str, side: int) -> Image.Image:
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "circle":
        draw.ellipse([0, 0, side - 1, side - 1], fill=255)
    elif shape == "square":
        inset = side // 8
        draw.rectangle([inset, inset, side - 1 - inset, side - 1 - inset], fill=255)
    else:
        draw.polygon([(side / 2, 0), (side - 1, side - 1), (0, side - 1)], fill=255)
    return mask


def render(objects: tuple[Shape, ...], size: int = 32, background: tuple[int, int, int] = (245, 245, 240)) -> np.ndarray:
    """Draw ``objects`` on a light background; drawn large and shrunk, so edges are smooth."""
    big = size * SUPERSAMPLE
    canvas = Image.new("RGB", (big, big), background)
    for obj in objects:
        side = max(4, int(2 * obj.r * big))
        left, top = int(obj.x * big - side / 2), int(obj.y * big - side / 2)
        texture = _texture(obj.color, obj.pattern, side, phase=(left + top) % 7)
        canvas.paste(texture, (left, top), _mask(obj.shape, side))
    return np.asarray(canvas.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)


def _allowed(color: str, shape: str, split: Split) -> bool:
    held = (color, shape) in HELD_OUT_PAIRS
    return split == "all" or (split == "heldout") == held


def _pick_pair(rng: np.random.Generator, split: Split) -> tuple[str, str]:
    while True:
        color, shape = str(rng.choice(list(COLORS))), str(rng.choice(SHAPES))
        if _allowed(color, shape, split):
            return color, shape


def single_scene(rng: np.random.Generator, split: Split = "all") -> Scene:
    """1-3 copies of one object of a random look."""
    color, shape = _pick_pair(rng, split)
    pattern, count = str(rng.choice(PATTERNS)), int(rng.choice(COUNTS))
    return draw_single(rng, color, shape, pattern, count)


def draw_single(rng: np.random.Generator, color: str, shape: str, pattern: str = "plain", count: int = 1) -> Scene:
    """``count`` copies of one look, placed by ``rng``: one near the centre, or each in its own
    cell of a 2x2 grid, jittered (the same look drawn twice differs in placement and size)."""
    r = 0.34 if count == 1 else 0.18
    cells = [(0.28, 0.28), (0.72, 0.28), (0.28, 0.72), (0.72, 0.72)]
    if count == 1:
        centres = [(0.5 + rng.uniform(-0.12, 0.12), 0.5 + rng.uniform(-0.12, 0.12))]
    else:
        chosen = rng.permutation(4)[:count]
        centres = [(cells[i][0] + rng.uniform(-0.05, 0.05), cells[i][1] + rng.uniform(-0.05, 0.05)) for i in chosen]
    objects = tuple(Shape(color, shape, pattern, x, y, r * rng.uniform(0.9, 1.1)) for x, y in centres)
    attributes = {"kind": "single", "color": color, "shape": shape, "pattern": pattern, "count": count}
    return Scene(objects, single_caption(color, shape, pattern, count), attributes)


def relation_scene(rng: np.random.Generator, split: Split = "all") -> Scene:
    """Two plain objects of different looks, the first ``relation`` the second."""
    a = _pick_pair(rng, split)
    b = _pick_pair(rng, split)
    while b == a:
        b = _pick_pair(rng, split)
    relation = str(rng.choice(RELATIONS))
    near, far, side = 0.27, 0.73, 0.5 + rng.uniform(-0.15, 0.15)
    spots = {"above": ((side, near), (side, far)), "below": ((side, far), (side, near)),
             "left of": ((near, side), (far, side)), "right of": ((far, side), (near, side))}[relation]
    objects = tuple(Shape(c, s, "plain", x + rng.uniform(-0.04, 0.04), y + rng.uniform(-0.04, 0.04), 0.19)
                    for (c, s), (x, y) in zip((a, b), spots))
    attributes = {"kind": "relation", "relation": relation,
                  "objects": [{"color": c, "shape": s, "pattern": "plain"} for c, s in (a, b)]}
    return Scene(objects, relation_caption(a, relation, b), attributes)


def make_scenes(n: int, seed: int = 0, relation_share: float = 0.3, split: Split = "all") -> list[Scene]:
    """``n`` scenes from ``seed``; a share of them relational. ``split="train"`` leaves out the
    colour-shape pairs of :data:`HELD_OUT_PAIRS`, ``"heldout"`` draws only those."""
    rng = np.random.default_rng(seed)
    return [relation_scene(rng, split) if rng.random() < relation_share else single_scene(rng, split)
            for _ in range(n)]


def write_dataset(folder: str | Path, scenes: list[Scene], size: int = 32) -> Path:
    """Write ``scenes`` as a dataset folder (images + ``data.jsonl``); the folder must be new or empty."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise DatasetError(f"{folder} is not empty: choose a new folder for the dataset")
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, scene in enumerate(scenes):
        name = f"images/{i:06d}.png"
        Image.fromarray(scene.render(size)).save(folder / name)
        lines.append(json.dumps({"image": name, "text": scene.text, "attributes": scene.attributes}))
    (folder / DATA_FILE).write_text("\n".join(lines) + "\n")
    return folder


def read_records(folder: str | Path) -> list[dict[str, Any]]:
    """The records of a dataset folder, each with ``image`` made an absolute path; checked, so a
    bad line or a missing image is one clear error naming the line."""
    folder = Path(folder)
    data = folder / DATA_FILE
    if not data.is_file():
        raise DatasetError(f"{folder} is not a dataset folder: no {DATA_FILE} (see lma.images.scenes for the format)")
    records = []
    for number, line in enumerate(data.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            image, text = folder / record["image"], record["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{data}:{number}: expected a JSON object with 'image' and 'text' ({exc})") from None
        if not isinstance(text, str) or not image.is_file():
            raise DatasetError(f"{data}:{number}: 'text' must be a string and 'image' a file ({image} is not)")
        records.append({**record, "image": str(image)})
    if not records:
        raise DatasetError(f"{data} holds no records")
    return records


def load_image(path: str | Path, size: int | None = None) -> np.ndarray:
    """An image file as H x W x 3 uint8 (resized to ``size`` square if given); a file that is
    not an image is a :class:`DatasetError`, not a traceback."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BICUBIC)
            return np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path} is not an image: {exc}") from None
