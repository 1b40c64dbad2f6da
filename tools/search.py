"""``search``: the multimodal document search (:mod:`lma.search`) as an agent tool.

The planner names a picture by reference, never by file path: ``image`` is a document id from an
earlier result (its stored picture) or a name the caller's ``pictures`` resolver knows (an env
offers ``"picture"``, the picture its task shows). The result lists the hits, one per line, and
carries the best hit's picture as the result image, so a seeing agent can compare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lma.core import ToolResult
from lma.images.attributes import VALUES
from lma.images.scenes import load_image
from lma.search.index import Hit, SearchIndex
from lma.tools.base import Tool

Pictures = Callable[[str], "np.ndarray | None"]


class SearchTool(Tool):
    """Search one index; ``pictures`` maps the picture names an env offers to images."""

    name = "search"
    description = ("Find documents by a picture, a text, or both: a picture plus a change (text 'but green') finds "
                   "that picture's look with the change. Optional colour and pattern filters.")
    parameters = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "words to find, or the change to the picture"},
            "image": {"type": "string", "description": "a picture: 'picture' (the task's) or a document id"},
            "color": {"enum": list(VALUES["color"])},
            "pattern": {"enum": list(VALUES["pattern"])},
            "k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
        },
        "additionalProperties": False,
    }

    def __init__(self, index: SearchIndex, pictures: Pictures | None = None):
        self.index, self.pictures = index, pictures

    def picture(self, ref: str) -> np.ndarray:
        """The image a reference names: the resolver's first, then a document's stored picture."""
        found = self.pictures(ref) if self.pictures is not None else None
        if found is not None:
            return found
        rows = self.index.images.get(ids=[ref], include=["metadatas"])
        if rows["ids"] and rows["metadatas"][0].get("image"):
            return load_image(rows["metadatas"][0]["image"])
        raise ValueError(f"no picture named {ref!r}: use 'picture' or the id of a result that has one")

    def run(self, text: str = "", image: str = "", color: str | None = None, pattern: str | None = None,
            k: int = 5) -> ToolResult:
        if not text.strip() and not image:
            return ToolResult(ok=False, error="search needs a text, an image, or both")
        try:
            query = self.picture(image) if image else None
        except ValueError as exc:
            return ToolResult(ok=False, error=str(exc))
        vectors = self.index.vectors(query, text)
        hits = self.index.search_vectors(vectors, color, pattern, k)
        lines = [f"{len(hits)} results" + (f" ({vectors.moved})" if vectors.moved else "")]
        lines += [f"- {h.id}: {h.text} [{h.color}, {h.pattern}] score {h.score:.3f}" for h in hits]
        return ToolResult(output="\n".join(lines), image=self._first_picture(hits),
                          data={"hits": [{"id": h.id, "score": round(h.score, 4), "text": h.text} for h in hits]})

    def _first_picture(self, hits: list[Hit]) -> np.ndarray | None:
        if not hits:
            return None
        try:
            return self.picture(hits[0].id)
        except ValueError:
            return None


def search_tools(index: str, **options: Any) -> list[Tool]:
    """The ``search`` tool over the index folder ``index`` (``options``: ``pictures``)."""
    return [SearchTool(SearchIndex.open(index), **options)]
