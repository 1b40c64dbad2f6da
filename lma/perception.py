"""Perception: what the planner reads of an observation.

A :class:`Perceiver` turns an :class:`lma.core.Observation` into a :class:`Percept`: the text the
planner reads and the images it is shown (only to models that take images). What each perceiver
produced is recorded in the trajectory, so a report shows what the agent "saw". Perceivers are
chosen per agent by name (``perceiver="passthrough"``); :func:`make_perceiver` builds one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lma.core import Observation
from lma.registry import UnknownNameError


@dataclass
class Percept:
    """The planner's view of one observation."""

    text: str
    images: tuple[np.ndarray, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


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
        image = obs.get("image")
        images = (image,) if image is not None and getattr(model, "supports_images", False) else ()
        return Percept(obs.get("text", ""), images)


PERCEIVERS: dict[str, Callable[..., Perceiver]] = {"passthrough": Passthrough}


def make_perceiver(name: str | Perceiver, **kwargs: Any) -> Perceiver:
    """A perceiver by name (see :data:`PERCEIVERS`), or the given instance."""
    if isinstance(name, Perceiver):
        return name
    if name not in PERCEIVERS:
        raise UnknownNameError("perceiver", name, list(PERCEIVERS))
    return PERCEIVERS[name](**kwargs)
