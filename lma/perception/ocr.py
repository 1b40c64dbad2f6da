"""``ocr``: the text on a frame, with where it is, for planners that cannot see pixels.

:func:`read_text` is a thin wrapper over RapidOCR 3 (PP-OCR det/cls/rec models bundled, offline):
an :class:`OcrBox` per line of text in an H x W x 3 uint8 RGB image, with its pixel box and the
recogniser's confidence. The engine is built once per process, on first use (loading the ONNX
models takes about a second), and ``rapidocr`` is imported only then, so importing this module is
free. The desktop envs call :func:`read_text` too.

The :class:`Ocr` perceiver lists the lines under the observation text as
``'Submit' at (x0, y0, x1, y1)``, taking them from ``obs["data"]["ocr"]`` when the env has read
the screen already (the desktop envs do).
"""


from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from lma.core import Observation
from lma.errors import LmaError
from lma.perception.base import Percept, Perceiver, shown

_ENGINE: Any = None
_ENGINE_LOCK = threading.Lock()


@dataclass(frozen=True)
class OcrBox:
    """One line of text read from an image: ``box`` is (x0, y0, x1, y1) in pixels, ``score`` in [0, 1]."""

    text: str
    box: tuple[int, int, int, int]
    score: float


def engine() -> Any:
    """The process-wide RapidOCR engine (built on first call; thread-safe)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as exc:
                raise LmaError(f"OCR needs rapidocr and onnxruntime ({exc.name}): pip install 'lma[gui]'") from None
            # Screens are upright (no angle classifier needed) and sharp: the detector need not
            # upscale them to its default 736-pixel short side, which costs time and gains nothing.
            params = {"Global.log_level": "error", "Global.use_cls": False, "Det.limit_side_len": 480}
            _ENGINE = RapidOCR(params=params)
        return _ENGINE


def read_text(image: np.ndarray, *, min_score: float = 0.5) -> list[OcrBox]:
    """The lines of text in ``image`` (RGB, H x W x 3 uint8), top to bottom, left to right."""
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8):
        raise LmaError(f"read_text needs an H x W x 3 uint8 RGB image, got {_describe(image)}")
    # RapidOCR takes arrays as OpenCV does, in BGR order.
    result = engine()(np.ascontiguousarray(image[:, :, ::-1]))
    if result.boxes is None or result.txts is None:
        return []
    found = []
    for quad, text, score in zip(result.boxes, result.txts, result.scores):
        if not text.strip() or score < min_score:
            continue
        xs, ys = np.asarray(quad)[:, 0], np.asarray(quad)[:, 1]
        box = (int(xs.min()), int(ys.min()), int(np.ceil(xs.max())), int(np.ceil(ys.max())))
        found.append(OcrBox(text.strip(), box, float(score)))
    return sorted(found, key=lambda b: (b.box[1] // 8, b.box[0]))


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__


class Ocr(Perceiver):
    """Screen text with pixel boxes; see the module docstring."""

    name = "ocr"

    def perceive(self, obs: Observation, model: Any = None) -> Percept:
        text, image = obs.get("text", ""), obs.get("image")
        lines = (obs.get("data") or {}).get("ocr")
        if lines is None and image is not None:
            lines = [{"text": b.text, "box": list(b.box), "score": round(b.score, 3)} for b in read_text(image)]
        if lines is None:
            return Percept(text)
        listing = "\n".join(f"{line['text']!r} at {tuple(line['box'])}" for line in lines) or "(no text found)"
        return Percept(f"{text}\n\nText on the screen (OCR; boxes are x0, y0, x1, y1 in pixels):\n{listing}",
                       shown(image, model), {"ocr": lines})
