"""Perception: what the planner reads of an observation.

A :class:`Perceiver` turns an :class:`lma.core.Observation` into a :class:`Percept`: the text the
planner reads and the images it is shown (only to models that take images). What each perceiver
produced is recorded in the trajectory, so a report shows what the agent "saw". Perceivers are
chosen per agent by spec (``perceiver="passthrough"``); :func:`make_perceiver` builds one from the
perceiver registry (``lma list perceivers``; plugins add their own through the ``lma.perceivers``
entry-point group). A perceiver that takes a target gets it after a colon:
``caption:transformers:/path/to/vlm``.

=============  ==================================================================================
passthrough    the observation text; the frame to planners whose model takes images
blank-frame    the text, and a black frame instead of the real one (does a VLM planner look?)
caption        a VLM describes the frame in words for a text-only planner (:mod:`lma.perception.caption`)
scene          a captioner trained here writes the env's own sentences for the frame (same module)
tiles          a vision tower trained here reads each tile; the view's sentences are written from it
               (:mod:`lma.perception.tiles`)
ocr            the text on the frame, with boxes, read by RapidOCR (:mod:`lma.perception.ocr`)
a11y           the accessibility view: elements with ids, roles and labels (:mod:`lma.perception.elements`)
som            set-of-marks: numbered boxes drawn on the frame, ids = the tools' element ids
               (:mod:`lma.perception.marks`)
=============  ==================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lma.core import Observation, Usage
from lma.registry import perceivers


@dataclass
class Percept:
    """The planner's view of one observation.

    ``data`` holds what the perceiver made besides the text (a caption, OCR boxes, a marked
    frame as an array), for the trajectory; ``usage`` is what a perceiving model spent.
    """

    text: str
    images: tuple[np.ndarray, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)


def shown(image: np.ndarray | None, model: Any) -> tuple[np.ndarray, ...]:
    """``(image,)`` for a planner whose model takes images, else ``()``."""
    return (image,) if image is not None and getattr(model, "supports_images", False) else ()


def shown_frame(obs: Observation, model: Any) -> tuple[np.ndarray, ...]:
    """The observation's frame as :func:`shown` gives it, read only for a model that takes images:
    an env that renders on first read (:mod:`lma.envs.observation`) then renders nothing for a
    text-only planner."""
    return shown(obs.get("image"), model) if getattr(model, "supports_images", False) else ()


class Perceiver:
    """Base class: ``perceive(obs, model)`` returns a :class:`Percept`.

    ``model`` is the planner's model, so a perceiver can decide whether to pass images on.
    """

    name = "perceiver"

    def perceive(self, obs: Observation, model: Any = None) -> Percept:
        raise NotImplementedError


class Passthrough(Perceiver):
    """The observation text as is; the frame goes to the planner only if its model takes images."""

    name = "passthrough"

    def perceive(self, obs: Observation, model: Any = None) -> Percept:
        return Percept(obs.get("text", ""), shown_frame(obs, model))


class BlankFrame(Perceiver):
    """The observation text, and a black frame of the same size in place of the real one.

    An ablation: a planner that reads its world off the frame does no better than chance here.
    """

    name = "blank-frame"

    def perceive(self, obs: Observation, model: Any = None) -> Percept:
        return Percept(obs.get("text", ""), tuple(np.zeros_like(image) for image in shown_frame(obs, model)))


def make_perceiver(spec: str | Perceiver | None, **options: Any) -> Perceiver:
    """A perceiver by spec (``ocr``, ``caption:MODEL_SPEC``; :func:`lma.registry.parse_spec`), or the instance."""
    return perceivers.build(spec or "passthrough", **options)
