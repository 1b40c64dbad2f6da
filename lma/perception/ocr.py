"""``ocr``: the text on the frame, with where it is, for planners that cannot see pixels.

Lines are read by :func:`lma.ocr.read_text` (RapidOCR with its bundled models, offline), or taken
from ``obs["data"]["ocr"]`` when the env has read the screen already (the desktop envs do), and
listed under the observation text as ``'Submit' at (x0, y0, x1, y1)``.
"""

from __future__ import annotations

from typing import Any

from lma.core import Observation
from lma.perception import Percept, Perceiver, shown


class Ocr(Perceiver):
    """Screen text with pixel boxes; see the module docstring."""

    name = "ocr"

    def perceive(self, obs: Observation, model: Any = None) -> Percept:
        text, image = obs.get("text", ""), obs.get("image")
        lines = (obs.get("data") or {}).get("ocr")
        if lines is None and image is not None:
            from lma.ocr import read_text

            lines = [{"text": b.text, "box": list(b.box), "score": round(b.score, 3)} for b in read_text(image)]
        if lines is None:
            return Percept(text)
        listing = "\n".join(f"{line['text']!r} at {tuple(line['box'])}" for line in lines) or "(no text found)"
        return Percept(f"{text}\n\nText on the screen (OCR; boxes are x0, y0, x1, y1 in pixels):\n{listing}",
                       shown(image, model), {"ocr": lines})
