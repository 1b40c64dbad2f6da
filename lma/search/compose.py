"""From a query (a picture, a text, or both) to the vectors a search ranks by.

Every document has an image embedding ``I`` and a text embedding ``T``. A query becomes a main
vector ``q`` and, for a composed query, the modifier's own text vector ``m``; a document scores

    w * cos(q, I) + (1 - w) * cos(q, T) + beta * cos(m, T)        (the last term: composed only)

* a text alone: ``q`` is its embedding (it matches pictures and texts alike: one space);
* a picture alone: ``q`` is the picture's embedding;
* a picture and a change ("but green"): when the change names a colour, pattern or shape, ``q``
  is the picture's embedding moved along the unit text diff from the picture's own value (read by
  the zero-shot classifier) to the named one, ``normalize(i + lam * d)``, as unCLIP's text diffs
  move an image embedding; otherwise along the change's text embedding itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lma.images.attributes import ZeroShot, value_named
from lma.images.clip import ClipBackend


@dataclass(frozen=True)
class Weights:
    """How a query's similarities are fused (defaults chosen on a validation seed; docs/search.md)."""

    image: float = 0.7  # w: share of the image side in the main similarity
    shift: float = 1.0  # lam: how far a composed query moves along the text diff
    modifier: float = 0.3  # beta: weight of the modifier text against document texts


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class QueryVectors:
    """The main query vector, and the modifier's text vector of a composed query (else None)."""

    main: np.ndarray
    modifier: np.ndarray | None = None
    moved: str = ""  # what the text diff was, e.g. "color: blue -> green" (for the tool's output)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-12)


def query_vectors(backend: ClipBackend, zero_shot: ZeroShot, image: np.ndarray | None, text: str | None,
                  weights: Weights | None = None) -> QueryVectors:
    """The vectors of a query; at least one of ``image`` and ``text`` must be given."""
    weights = weights or DEFAULT_WEIGHTS
    text = (text or "").strip() or None
    if image is None and text is None:
        raise ValueError("a query needs a picture, a text, or both")
    if image is None:
        return QueryVectors(backend.encode_text([text])[0])
    picture = backend.encode_image([image])[0]
    if text is None:
        return QueryVectors(picture)
    modifier = backend.encode_text([text])[0]
    named = value_named(text)
    if named is None:
        return QueryVectors(_unit(picture + weights.shift * modifier), modifier, "along the text")
    attribute, target = named
    source = zero_shot.predict(picture[None], attribute)[0]
    if source == target:
        return QueryVectors(picture, modifier, f"{attribute}: already {target}")
    direction = zero_shot.direction(attribute, source, target)
    return QueryVectors(_unit(picture + weights.shift * direction), modifier, f"{attribute}: {source} -> {target}")
