"""A synthetic WebQA set in the real on-disk format, generated deterministically from a seed.

The real WebQA data cannot be bundled (about 50 GB of web images), so lma generates a small set
that exercises the same task: 224 questions over 80 fictional organisations, each with one
PIL-drawn image (a flag, banner, badge, poster or sign: coloured shapes on a coloured background)
and two text snippets (who founded it and when; where the founder was born and what they did).
Questions cover all seven WebQA categories, 32 each: single-source questions, 2-source multi-hop
questions (compare two images; or find the organisation in a text snippet, then look at its
image; or chain two snippets), and every question's pool holds text and image distractors.

Image captions name what is pictured but never its colours, shapes or counts, so as in WebQA the
visual questions need the image itself. Keywords for the accuracy metric are written into each
record's ``Keywords_A`` field. Files are written as ``WebQA_train_val.json``, ``imgs.tsv`` and
``imgs.lineidx`` (see :mod:`lma.envs.webqa.data`); the same seed gives byte-identical files with
the same Pillow and zlib. :func:`synthetic_dir` generates the set once into a cache folder
(``$LMA_HOME/data/webqa-synthetic``, default ``~/.lma``), through a temporary folder renamed into
place, so concurrent first uses never see half-written files.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lma.envs.webqa.data import QUESTIONS_FILE, write_image_tsv
from lma.envs.webqa.metrics import CATEGORIES, WORD_SETS

__all__ = ["GENERATOR_VERSION", "generate", "synthetic_dir", "write_synthetic"]

#: Bump when the generated content changes, so caches of older versions are not reused.
GENERATOR_VERSION = 1
IMAGE_ID_BASE = 30_000_000
N_ORGS = 80
QUESTIONS_PER_CATEGORY = 32
SIZE, CELL = (192, 144), 48  # a 4 x 3 grid of cells, one shape per cell at most
COLORS = {
    "red": (214, 39, 40), "blue": (31, 90, 200), "green": (44, 160, 44), "yellow": (240, 210, 30),
    "orange": (255, 127, 14), "purple": (128, 60, 170), "pink": (240, 130, 190), "black": (20, 20, 20),
    "white": (245, 245, 245), "brown": (140, 86, 45), "gray": (128, 128, 128),
}  # fmt: skip
SHAPES = ("circle", "square", "triangle", "star", "diamond", "hexagon", "pentagon", "ring")
KINDS = ("flag", "banner", "badge", "poster", "sign")
ORG_TYPES = ("Society", "Guild", "Club", "League", "Academy", "Union")
FIRST_NAMES = ("Mira", "Tomas", "Ilse", "Joran", "Petra", "Anouk", "Lev", "Sana", "Orin", "Talia", "Ruben", "Edda")
PROFESSIONS = ("weaver", "sailor", "printer", "teacher", "baker", "surveyor", "glassblower", "clockmaker",
               "botanist", "carpenter")  # fmt: skip
_ONSETS = ("b", "br", "d", "dr", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "th", "st")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("n", "r", "l", "th", "m", "nd", "rk", "ck", "")


@dataclass
class Org:
    """One fictional organisation, its founder and its pictured object."""

    index: int
    name: str  # distinctive word, e.g. "Ostrel"
    full: str  # "the Ostrel Guild"
    year: int
    founder: str
    profession: str
    birthplace: str
    town: str
    kind: str
    background: str
    shape: str
    color: str
    count: int

    @property
    def image_id(self) -> int:
        return IMAGE_ID_BASE + self.index

    @property
    def thing(self) -> str:
        """The pictured object, e.g. "the banner of the Ostrel Guild"."""
        return f"the {self.kind} of {self.full}"

    @property
    def shapes(self) -> str:
        """e.g. "3 stars" or "1 star"."""
        return f"{self.count} {self.shape}{'s' if self.count != 1 else ''}"


def _word(rng: random.Random, taken: set[str]) -> str:
    while True:
        word = "".join(rng.choice(p) for p in (_ONSETS, _VOWELS, _ONSETS, _VOWELS, _CODAS)).capitalize()
        clash = any(word.lower() in words for words in WORD_SETS.values())  # no "Bronze" org
        if word not in taken and not clash and 5 <= len(word) <= 9:
            taken.add(word)
            return word


def _world(rng: random.Random) -> list[Org]:
    taken: set[str] = set()
    years = rng.sample(range(1850, 1990), N_ORGS)
    orgs = []
    for i in range(N_ORGS):
        name = _word(rng, taken)
        background = rng.choice(sorted(COLORS))
        orgs.append(Org(
            index=i, name=name, full=f"the {name} {rng.choice(ORG_TYPES)}", year=years[i],
            founder=f"{rng.choice(FIRST_NAMES)} {_word(rng, taken)}", profession=rng.choice(PROFESSIONS),
            birthplace=_word(rng, taken), town=_word(rng, taken), kind=rng.choice(KINDS),
            background=background, shape=rng.choice(SHAPES),
            color=rng.choice([c for c in sorted(COLORS) if c != background]), count=rng.randint(1, 6),
        ))  # fmt: skip
    return orgs


def _draw(org: Org, rng: random.Random) -> bytes:
    """The org's image as PNG bytes: ``count`` shapes in distinct grid cells."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", SIZE, COLORS[org.background])
    pen = ImageDraw.Draw(image)
    fill = COLORS[org.color]
    cells = rng.sample(range((SIZE[0] // CELL) * (SIZE[1] // CELL)), org.count)
    for cell in sorted(cells):
        x0, y0 = (cell % (SIZE[0] // CELL)) * CELL + 6, (cell // (SIZE[0] // CELL)) * CELL + 6
        x1, y1, cx, cy, r = x0 + CELL - 12, y0 + CELL - 12, x0 + CELL // 2 - 6, y0 + CELL // 2 - 6, CELL // 2 - 6
        if org.shape == "circle":
            pen.ellipse((x0, y0, x1, y1), fill=fill)
        elif org.shape == "ring":
            pen.ellipse((x0, y0, x1, y1), outline=fill, width=6)
        elif org.shape == "square":
            pen.rectangle((x0 + 3, y0 + 3, x1 - 3, y1 - 3), fill=fill)
        elif org.shape == "triangle":
            pen.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
        elif org.shape == "diamond":
            pen.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
        elif org.shape == "star":
            pen.polygon(_star_points(cx, cy, r), fill=fill)
        else:
            pen.regular_polygon((cx, cy, r), 6 if org.shape == "hexagon" else 5, fill=fill)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _star_points(cx: int, cy: int, r: int) -> list[tuple[float, float]]:
    import math

    points = []
    for k in range(10):
        radius = r if k % 2 == 0 else r * 0.42
        angle = math.pi / 2 + k * math.pi / 5
        points.append((round(cx + radius * math.cos(angle), 2), round(cy - radius * math.sin(angle), 2)))
    return points


def _facts(org: Org) -> dict[str, dict[str, Any]]:
    """The org's three sources in WebQA's fact formats, keyed "org", "person" and "image"."""
    url = "https://example.org/webqa-synthetic/"
    title = org.full.removeprefix("the ")
    return {
        "org": {"title": title, "fact": f"{_cap(org.full)} was founded in {org.year} by "
                f"{org.founder} in the town of {org.town}.", "url": f"{url}wiki/{org.name}",
                "snippet_id": f"txt-{2 * org.index:04d}"},
        "person": {"title": org.founder, "fact": f"{org.founder} was a {org.profession} born in {org.birthplace}.",
                   "url": f"{url}wiki/{org.founder.replace(' ', '_')}", "snippet_id": f"txt-{2 * org.index + 1:04d}"},
        "image": {"image_id": org.image_id, "title": f"{org.kind.capitalize()} of {title}",
                  "caption": f"The {org.kind} of {org.full}, photographed in {org.town}.",
                  "url": f"{url}image/{org.image_id}", "imgUrl": f"{url}image/{org.image_id}.png"},
    }  # fmt: skip


def _cap(text: str) -> str:
    """Upper-case the first letter only (``str.capitalize`` would lower-case the names)."""
    return text[:1].upper() + text[1:]


def _pick(rng: random.Random, orgs: list[Org], same: bool, attribute: str) -> tuple[Org, Org]:
    """Two orgs whose ``attribute`` is equal (``same``) or different."""
    first = rng.choice(orgs)
    pool = [o for o in orgs if o is not first and (getattr(o, attribute) == getattr(first, attribute)) == same]
    return first, rng.choice(pool)


def _question(category: str, variant: int, rng: random.Random, orgs: list[Org]) -> dict[str, Any]:
    """One question: Q, A, Keywords_A and its positive facts as [(org, fact key), ...]."""
    o = rng.choice(orgs)
    via = f"the {o.kind} of the organisation founded by {o.founder}"  # an image reached through a snippet
    hop = [(o, "org"), (o, "image")]
    if category == "color":
        return [
            dict(Q=f"What color are the {o.shape}s on {o.thing}?", A=f"The {o.shape}s on {o.thing} are {o.color}.",
                 K=o.color, pos=[(o, "image")]),
            dict(Q=f"What is the background color of {o.thing}?", A=f"The background of {o.thing} is {o.background}.",
                 K=o.background, pos=[(o, "image")]),
            dict(Q=f"What color are the shapes on {via}?", A=f"The shapes on {o.thing} are {o.color}.", K=o.color,
                 pos=hop),
        ][variant % 3]  # fmt: skip
    if category == "shape":
        return [
            dict(Q=f"What shape is drawn on {o.thing}?", A=f"{_cap(o.thing)} shows {o.shape}s.", K=o.shape,
                 pos=[(o, "image")]),
            dict(Q=f"What shape appears on the {o.kind} of the organisation founded in {o.year}?",
                 A=f"{_cap(o.thing)} shows {o.shape}s.", K=o.shape, pos=hop),
        ][variant % 2]  # fmt: skip
    if category == "number":
        return [
            dict(Q=f"How many {o.shape}s are on {o.thing}?", A=f"{_cap(o.thing)} shows {o.shapes}.",
                 K=str(o.count), pos=[(o, "image")]),
            dict(Q=f"How many shapes are on {via}?", A=f"{_cap(o.thing)} shows {o.shapes}.", K=str(o.count),
                 pos=hop),
        ][variant % 2]  # fmt: skip
    if category == "Others":
        drawn = f"{o.count} {o.color} {o.shape}{'s' if o.count != 1 else ''}"
        answer = f"{_cap(o.thing)} shows {drawn} on a {o.background} background."
        question = [f"What is drawn on {o.thing}?", f"What is drawn on {via}?"][variant % 2]
        return dict(Q=question, A=answer, K=drawn, pos=[(o, "image")] if variant % 2 == 0 else hop)
    if category == "text":
        return [
            dict(Q=f"In which year was {o.full} founded?", A=f"{_cap(o.full)} was founded in {o.year}.",
                 K=str(o.year), pos=[(o, "org")]),
            dict(Q=f"What was the profession of the founder of {o.full}?",
                 A=f"The founder of {o.full}, {o.founder}, was a {o.profession}.", K=o.profession,
                 pos=[(o, "org"), (o, "person")]),
            dict(Q=f"Where was the founder of {o.full} born?",
                 A=f"The founder of {o.full}, {o.founder}, was born in {o.birthplace}.", K=o.birthplace,
                 pos=[(o, "org"), (o, "person")]),
        ][variant % 3]  # fmt: skip
    same = rng.random() < 0.5
    if category == "YesNo":
        if variant % 3 == 2:
            shape = o.shape if same else rng.choice([s for s in SHAPES if s != o.shape])
            reply = f"Yes, {o.thing} shows {o.shape}s." if same else f"No, {o.thing} shows {o.shape}s."
            return dict(Q=f"Is there a {shape} on {o.thing}?", A=reply, K="Yes" if same else "No", pos=[(o, "image")])
        attribute = ("shape", "background")[variant % 3]
        a, b = _pick(rng, orgs, same, attribute)
        if attribute == "shape":
            q = f"Do {a.thing} and {b.thing} show the same shape?"
            reply = f"Yes, both show {a.shape}s." if same else f"No, one shows {a.shape}s and the other {b.shape}s."
        else:
            q = f"Do {a.thing} and {b.thing} have the same background color?"
            reply = "Yes, both backgrounds are the same color." if same else "No, their backgrounds differ in color."
        return dict(Q=q, A=reply, K="Yes" if same else "No", pos=[(a, "image"), (b, "image")])
    if category == "choose":
        if variant % 2 == 0:
            a, b = _pick(rng, orgs, False, "count")
            more = a if a.count > b.count else b
            return dict(Q=f"Which shows more shapes, {a.thing} or {b.thing}?", A=f"{_cap(more.thing)} shows "
                        f"more shapes.", K=more.name, pos=[(a, "image"), (b, "image")])  # fmt: skip
        other = rng.choice([c for c in sorted(COLORS) if c not in (o.background, o.color)])
        options = sorted([o.background, other], key=lambda _: rng.random())
        return dict(Q=f"Is the background of {o.thing} {options[0]} or {options[1]}?",
                    A=f"The background of {o.thing} is {o.background}.", K=o.background, pos=[(o, "image")])
    raise ValueError(f"unknown category {category!r}")


def generate(seed: int = 0) -> tuple[dict[str, dict[str, Any]], list[tuple[int, bytes]]]:
    """The questions (guid -> WebQA record) and the images ((image_id, PNG bytes), in id order)."""
    rng = random.Random(seed)
    orgs = _world(rng)
    facts = [_facts(o) for o in orgs]
    images = [(o.image_id, _draw(o, rng)) for o in orgs]
    records: dict[str, dict[str, Any]] = {}
    for variant in range(QUESTIONS_PER_CATEGORY):
        for category in CATEGORIES:  # interleaved, so seeds 0..6 visit every category
            q = _question(category, variant, rng, orgs)
            positives = [facts[o.index][key] for o, key in q["pos"]]
            used = {o.index for o, _ in q["pos"]}
            others = rng.sample([o for o in orgs if o.index not in used], 8)
            # Hard text distractors first: the snippets of the question's orgs that do not answer it.
            hard = {(o.index, k): facts[o.index][k] for o, _ in q["pos"] for k in ("org", "person")
                    if (o, k) not in q["pos"]}  # fmt: skip
            has_image = any(key == "image" for _, key in q["pos"])
            n_img, n_txt = (6, 5) if has_image else (3, 6)
            txt_neg = ([*hard.values()] + [facts[o.index][rng.choice(("org", "person"))] for o in others])[:n_txt]
            guid = f"syn-{len(records):04d}"
            records[guid] = {
                "Guid": guid,
                "Q": q["Q"],
                "A": [q["A"]],
                "Keywords_A": q["K"],
                "Qcate": category,
                "split": "val" if len(records) % 5 == 4 else "train",
                "topic": "synthetic",
                "txt_posFacts": [f for f in positives if "snippet_id" in f],
                "txt_negFacts": txt_neg,
                "img_posFacts": [f for f in positives if "image_id" in f],
                "img_negFacts": [facts[o.index]["image"] for o in others[:n_img]],
            }
    return records, images


def write_synthetic(folder: str | Path, seed: int = 0) -> dict[str, int]:
    """Write the synthetic set into ``folder`` (created if missing); returns its counts."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    records, images = generate(seed)
    text = json.dumps(records, indent=1, ensure_ascii=True) + "\n"
    (folder / QUESTIONS_FILE).write_text(text, encoding="utf-8")
    write_image_tsv(folder, images)
    return {"questions": len(records), "images": len(images)}


def _cache_root() -> Path:
    return Path(os.environ.get("LMA_HOME") or "~/.lma").expanduser() / "data" / "webqa-synthetic"


def synthetic_dir(seed: int = 0, root: str | Path | None = None) -> Path:
    """The folder of the synthetic set for ``seed``, generated on first use (about a second)."""
    base = Path(root) if root else _cache_root()
    target = base / f"v{GENERATOR_VERSION}-seed{seed}"
    if (target / QUESTIONS_FILE).is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".partial-", dir=base))
    try:
        write_synthetic(scratch, seed)
        os.rename(scratch, target)  # atomic; fails if another process got there first
    except OSError:
        if not (target / QUESTIONS_FILE).is_file():
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
