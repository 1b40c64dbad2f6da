"""The WebQA data format: questions in ``WebQA_train_val.json``, images in ``imgs.tsv``.

WebQA (Chang et al., CVPR 2022) ships one JSON object mapping a question id (guid) to a record::

    {"Q": ..., "A": [...], "Qcate": "color", "split": "val", "Guid": ..., "topic": ...,
     "txt_posFacts": [{"title", "fact", "url", "snippet_id"}, ...], "txt_negFacts": [...],
     "img_posFacts": [{"image_id", "title", "caption", "url", "imgUrl"}, ...], "img_negFacts": [...]}

and the images as one line per image in ``imgs.tsv`` (``image_id <TAB> base64 of the JPEG/PNG``),
with ``imgs.lineidx`` holding the byte offset of each line, so that image ``image_id`` sits at
offset ``lineidx[image_id % 10_000_000]`` (the indexing the WebQA authors' own reading code uses).
The positive facts are the sources that answer the question; the negative facts are distractors.
A record may carry ``Keywords_A`` (the keyword answer the accuracy metric compares with); when it
is missing the metric falls back to the reference answers (see :mod:`lma.envs.webqa.metrics`).

This module reads that format (and writes its image files, for the synthetic set) into one
in-memory shape, :class:`WebQAExample`. Nothing is guessed: a malformed JSON file, record or TSV
line raises :class:`WebQADataError` naming the file and the line, because a silently skipped
question would change every score computed over the set. Images are decoded only when read.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from lma.envs.webqa.metrics import CATEGORIES
from lma.errors import LmaError

__all__ = [
    "DATA_ENV_VAR",
    "IMAGES_FILE",
    "LINEIDX_FILE",
    "QUESTIONS_FILE",
    "ImageStore",
    "Source",
    "WebQADataError",
    "WebQADataset",
    "WebQAExample",
    "real_data_path",
    "write_image_tsv",
]

QUESTIONS_FILE = "WebQA_train_val.json"
IMAGES_FILE = "imgs.tsv"
LINEIDX_FILE = "imgs.lineidx"
#: Environment variable naming the folder (or JSON file) of a real WebQA copy.
DATA_ENV_VAR = "LMA_WEBQA_DATA"
#: ``imgs.lineidx`` is indexed by the image id modulo this (WebQA image ids carry a prefix digit).
LINEIDX_MODULUS = 10_000_000
_FACT_LISTS = ("txt_posFacts", "txt_negFacts", "img_posFacts", "img_negFacts")


class WebQADataError(LmaError):
    """A WebQA data file that does not follow the format; names the file and the 1-based line."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {reason}")
        self.path, self.line = str(path), line


@dataclass(frozen=True)
class Source:
    """One candidate source of a question: a text snippet or an image with its title and caption.

    ``id`` is the snippet id or the image id as a string (what ``answer(sources=...)`` names);
    ``text`` is the snippet's fact or the image's caption. ``load_image`` decodes the image
    (H x W x 3 uint8) on demand; it is None for text sources.
    """

    id: str
    kind: str  # "text" or "image"
    title: str
    text: str
    load_image: Callable[[], np.ndarray] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class WebQAExample:
    """One WebQA question with its pool of sources (positives and distractors, shuffled)."""

    guid: str
    question: str
    category: str
    answers: list[str]
    keywords: str
    sources: list[Source]
    positive_ids: list[str]
    split: str

    def source(self, source_id: str) -> Source | None:
        """The source with this id, or None."""
        return next((s for s in self.sources if s.id == source_id), None)


class ImageStore:
    """Random access to the images of an ``imgs.tsv`` through its ``imgs.lineidx``.

    The offsets are read once, on the first image; each :meth:`load` seeks to one line, checks
    that it holds the requested id, and decodes it, so a 50 GB TSV costs one read per image.
    """

    def __init__(self, tsv: str | Path, lineidx: str | Path | None = None) -> None:
        self.tsv = Path(tsv)
        self.lineidx = Path(lineidx) if lineidx else self.tsv.with_suffix(".lineidx")
        self._offsets: list[int] | None = None

    def offsets(self) -> list[int]:
        if self._offsets is None:
            if not self.lineidx.is_file():
                raise WebQADataError(self.lineidx, None, "image index file not found")
            offsets = []
            with self.lineidx.open(encoding="utf-8") as handle:
                for number, raw in enumerate(handle, start=1):
                    try:
                        offsets.append(int(raw.strip()))
                    except ValueError:
                        raise WebQADataError(self.lineidx, number, f"not a byte offset: {raw.strip()[:40]!r}") from None
            self._offsets = offsets
        return self._offsets

    def load(self, image_id: int | str) -> np.ndarray:
        """The image ``image_id`` as an H x W x 3 uint8 array."""
        from PIL import Image, UnidentifiedImageError

        offsets = self.offsets()
        index = int(image_id) % LINEIDX_MODULUS
        if index >= len(offsets):
            raise WebQADataError(self.lineidx, None, f"no entry for image {image_id} ({len(offsets)} lines)")
        line = index + 1
        if not self.tsv.is_file():
            raise WebQADataError(self.tsv, None, "image file not found")
        with self.tsv.open("rb") as handle:
            handle.seek(offsets[index])
            fields = handle.readline().rstrip(b"\r\n").split(b"\t")
        if len(fields) != 2:
            raise WebQADataError(self.tsv, line, f"expected 'image_id<TAB>base64', got {len(fields)} fields")
        if fields[0].decode("ascii", "replace").strip() != str(image_id):
            found = fields[0][:20].decode("ascii", "replace")
            raise WebQADataError(self.tsv, line, f"holds image {found!r}, not {image_id} (stale imgs.lineidx?)")
        try:
            with Image.open(io.BytesIO(base64.b64decode(fields[1], validate=True))) as image:
                return np.asarray(image.convert("RGB"))
        except (binascii.Error, UnidentifiedImageError, OSError) as exc:
            raise WebQADataError(self.tsv, line, f"image {image_id} is not a base64-encoded image ({exc})") from None


def write_image_tsv(folder: str | Path, images: Iterable[tuple[int, bytes]]) -> None:
    """Write ``imgs.tsv`` and ``imgs.lineidx`` in ``folder`` from ``(image_id, encoded image)``.

    Line ``i`` must hold the image whose id is ``i`` modulo 10,000,000 (the WebQA indexing), so
    the ids are checked to come in that order.
    """
    folder = Path(folder)
    offset = 0
    with (folder / IMAGES_FILE).open("wb") as tsv, (folder / LINEIDX_FILE).open("w", encoding="ascii") as idx:
        for line, (image_id, data) in enumerate(images):
            if image_id % LINEIDX_MODULUS != line:
                raise ValueError(f"image {image_id} cannot be line {line} of {IMAGES_FILE}")
            row = f"{image_id}\t".encode() + base64.b64encode(data) + b"\n"
            idx.write(f"{offset}\n")
            tsv.write(row)
            offset += len(row)


def _line_of(path: Path, needle: str) -> int | None:
    """1-based line of the first occurrence of ``needle`` in ``path`` (only for error messages)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


@lru_cache(maxsize=2)
def _read_json(path: Path, mtime_ns: int) -> dict[str, Any]:
    """Parse a questions file once per process (keyed by mtime, so an edited file is re-read)."""
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise WebQADataError(path, exc.lineno, f"not valid JSON ({exc.msg}, column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise WebQADataError(path, None, f"not UTF-8 text ({exc.reason})") from None
    if not isinstance(data, dict):
        raise WebQADataError(path, 1, "expected a JSON object mapping question ids to records")
    return data


def _unquote(text: str) -> str:
    """Drop one pair of surrounding double quotes: many WebQA questions are stored quoted."""
    text = text.strip()
    return text[1:-1].strip() if len(text) >= 2 and text[0] == text[-1] == '"' else text


class WebQADataset:
    """A folder holding ``WebQA_train_val.json``, ``imgs.tsv`` and ``imgs.lineidx``.

    ``path`` may also name the JSON file itself (the images are then looked up beside it).
    ``split`` keeps only the records of that split ("train" or "val"). Records are turned into
    :class:`WebQAExample` one at a time by :meth:`example`, so opening the 40,000-question file
    costs one JSON parse and no image reads.
    """

    def __init__(self, path: str | Path, split: str | None = None) -> None:
        path = Path(path).expanduser()
        self.questions = path / QUESTIONS_FILE if path.is_dir() else path
        if not self.questions.is_file():
            raise WebQADataError(self.questions, None, "WebQA questions file not found")
        self.images = ImageStore(self.questions.parent / IMAGES_FILE, self.questions.parent / LINEIDX_FILE)
        self._records = _read_json(self.questions, self.questions.stat().st_mtime_ns)
        self.guids = [
            g for g, r in self._records.items() if split is None or (isinstance(r, dict) and r.get("split") == split)
        ]
        if not self.guids:
            raise WebQADataError(self.questions, None, f"no questions{f' in split {split!r}' if split else ''}")

    def __len__(self) -> int:
        return len(self.guids)

    def __iter__(self) -> Iterator[WebQAExample]:
        return (self.example(i) for i in range(len(self)))

    def example(self, index: int) -> WebQAExample:
        """Question ``index`` (in file order) as a :class:`WebQAExample`; malformed records raise."""
        guid = self.guids[index]
        try:
            return self._convert(guid, self._records[guid])
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            line = _line_of(self.questions, json.dumps(guid))
            raise WebQADataError(self.questions, line, f"question {guid}: {reason}") from None

    def _convert(self, guid: str, record: dict[str, Any]) -> WebQAExample:
        if not isinstance(record, dict):
            raise TypeError("record is not a JSON object")
        category = record["Qcate"]
        if category not in CATEGORIES:
            raise ValueError(f"unknown Qcate {category!r}")
        answers = record["A"]
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise TypeError("A must be a list of strings")
        for name in _FACT_LISTS:
            if not isinstance(record[name], list):
                raise TypeError(f"{name} must be a list")
        texts = [(f, name == "txt_posFacts") for name in _FACT_LISTS[:2] for f in record[name]]
        images = [(f, name == "img_posFacts") for name in _FACT_LISTS[2:] for f in record[name]]
        sources, positives = [], []
        for fact, positive in texts:
            sources.append(Source(str(fact["snippet_id"]), "text", str(fact["title"]), str(fact["fact"])))
            positives += [sources[-1].id] if positive else []
        for fact, positive in images:
            image_id = int(fact["image_id"])
            loader = partial(self.images.load, image_id)
            sources.append(Source(str(image_id), "image", str(fact["title"]), str(fact["caption"]), loader))
            positives += [sources[-1].id] if positive else []
        # A fixed shuffle per question, so the positives are not always listed first.
        random.Random(guid).shuffle(sources)
        return WebQAExample(
            guid=guid,
            question=_unquote(str(record["Q"])),
            category=category,
            answers=[_unquote(a) for a in answers],
            keywords=str(record.get("Keywords_A", "TBD")),
            sources=sources,
            positive_ids=positives,
            split=str(record.get("split", "")),
        )


def real_data_path(path: str | Path | None) -> Path:
    """The real WebQA folder: ``path``, else ``$LMA_WEBQA_DATA``; a clear error when neither is set."""
    chosen = path or os.environ.get(DATA_ENV_VAR)
    if not chosen:
        raise LmaError(
            f"the real WebQA set needs its files: pass data=PATH or set {DATA_ENV_VAR} to the folder "
            f"holding {QUESTIONS_FILE}, {IMAGES_FILE} and {LINEIDX_FILE} (see docs/webqa.md)"
        )
    return Path(chosen).expanduser()
