"""``som``: set-of-marks, numbered boxes drawn on the frame for the elements an agent can act on.

Set-of-marks prompting (Yang et al., 2023) lets a vision-language planner point at things by
number: each element of ``obs["data"]["elements"]`` gets its box outlined and its ``id`` written
at its top-left corner, the same id the env's tools take, so "click 12" needs no coordinates. The
marked frame goes to planners whose model takes images; the legend (``[12] button 'Submit'``)
goes into the text for every planner, and the marked frame is kept in the percept's data so the
trajectory shows what the planner was shown.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lma.core import Observation
from lma.perception.base import Percept, Perceiver, shown
from lma.perception.elements import valid_elements, with_listing

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (0, 128, 128),
           (240, 50, 230), (128, 0, 0), (0, 0, 128), (128, 128, 0)]


def _box(element: dict[str, Any], width: int, height: int) -> tuple[int, int, int, int] | None:
    """The element's box clipped to the frame, or None when it has none or lies outside."""
    box = element.get("box")
    if not (isinstance(box, (list, tuple)) and len(box) == 4):
        return None
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def draw_marks(image: np.ndarray, elements: list[dict[str, Any]], *, font_size: int = 16) -> np.ndarray:
    """A copy of ``image`` with each element's box outlined and its id drawn on a filled tag."""
    from PIL import Image, ImageDraw, ImageFont

    frame = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(frame)
    font = ImageFont.load_default(size=font_size)
    for n, element in enumerate(elements):
        box = _box(element, frame.width, frame.height)
        if box is None:
            continue
        color = PALETTE[n % len(PALETTE)]
        draw.rectangle(box, outline=color, width=2)
        label = str(element["id"])
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        w, h = right - left + 4, bottom - top + 2
        x, y = box[0], box[1] - h if box[1] - h >= 0 else box[1]  # above the box, or inside at the top
        draw.rectangle((x, y, x + w, y + h), fill=color)
        draw.text((x + 2 - left, y + 1 - top), label, fill=(255, 255, 255), font=font)
    return np.asarray(frame)


class SetOfMarks(Perceiver):
    """Numbered element boxes on the frame plus a legend; see the module docstring."""

    name = "som"

    def perceive(self, obs: Observation, model: Any = None) -> Percept:
        text, image, elements = obs.get("text", ""), obs.get("image"), valid_elements(obs)
        text = with_listing(text, "Marked elements ([id] role 'label'; the numbers drawn on the image):", elements)
        if image is None or not elements:
            return Percept(text, shown(image, model), {"elements": [e["id"] for e in elements]})
        marked = draw_marks(image, elements)
        return Percept(text, shown(marked, model), {"elements": [e["id"] for e in elements], "marked_frame": marked})
