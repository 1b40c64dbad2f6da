"""The observation space of every lma env: ``Dict(text=UnicodeText, image=Frame, data=JSONData)``.

Gymnasium's checker (``gymnasium.utils.env_checker.check_env``), its wrappers and RL libraries
read ``env.observation_space``. An lma observation is ``{"text": str, "image": H x W x 3 uint8 or
None, "data": dict}`` (:class:`lma.core.Observation`), and Gymnasium has a space for none of the
three as they are:

* :class:`UnicodeText` is Gymnasium's ``Text`` over every character (``Text`` must list its
  alphabet, and an observation quotes web pages and screen text in any script);
* :class:`Frame` is an RGB image of the env's real size, which an env may leave out (``None``:
  a browser whose screenshot failed, a WebQA step that shows no picture), or of any size (WebQA's
  pictures), or never shown at all (an env without frames says so);
* :class:`JSONData` is a mapping that a recording can write as JSON: string keys; values None,
  bools, numbers (numpy scalars too, which the recorder writes as numbers), strings, and lists,
  tuples and mappings of them. Arrays are not data: pictures go in ``image``.

Each ``sample()`` lies inside its space, so ``space.contains(space.sample())`` always holds.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

TEXT_MAX = 1 << 20  # characters; far above any observation text (web pages are cut to a few thousand)
_SAMPLE_CHARS = string.ascii_letters + string.digits + string.punctuation + " \n"
_FREE_SIZE = (1, 64)  # the side, in pixels, of a sampled frame of a free-size Frame
_JSON_SCALARS = (type(None), bool, int, float, str, np.bool_, np.integer, np.floating)


class UnicodeText(spaces.Text):
    """Strings of ``min_length`` to ``max_length`` characters, any characters at all.

    Samples are drawn from printable ASCII (a subset, so they are contained). Gymnasium's
    character-index helpers (``character_index``, ``flatten``) know that sampling alphabet only.
    """

    def __init__(self, max_length: int = TEXT_MAX, *, min_length: int = 1, seed: Any = None):
        super().__init__(max_length, min_length=min_length, charset=_SAMPLE_CHARS, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and (other.min_length, other.max_length) == (self.min_length, self.max_length)

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"


class Frame(spaces.Space[np.ndarray | None]):
    """An H x W x 3 uint8 image, or None.

    ``shape`` is ``(height, width)`` in pixels (numpy order), or None for frames of any size.
    ``optional``: an observation may have no frame (None). ``never``: the env shows no frames at
    all, the image is always None. ``box`` is the matching ``Box`` when the size is fixed.
    """

    def __init__(self, shape: tuple[int, int] | None = None, *, optional: bool = True, never: bool = False,
                 seed: Any = None):
        if never and shape is not None:
            raise ValueError("a Frame that is never shown has no shape")
        self.frame_shape = None if shape is None else (int(shape[0]), int(shape[1]), 3)
        self.optional, self.never = optional or never, never
        super().__init__(shape=self.frame_shape, dtype=None if never else np.uint8, seed=seed)

    @property
    def box(self) -> spaces.Box | None:
        """``Box(0, 255, (H, W, 3), uint8)`` for a fixed size, else None."""
        return None if self.frame_shape is None else spaces.Box(0, 255, self.frame_shape, np.uint8)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        if x is None:
            return self.optional
        if self.never or not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 3:
            return False
        if self.frame_shape is None:
            return x.shape[2] == 3 and x.shape[0] > 0 and x.shape[1] > 0
        return x.shape == self.frame_shape

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray | None:
        if self.never:
            return None
        shape = self.frame_shape or (*(int(v) for v in self.np_random.integers(*_FREE_SIZE, size=2)), 3)
        return self.np_random.integers(0, 256, size=shape, dtype=np.uint8)

    def __eq__(self, other: Any) -> bool:
        mine = (self.frame_shape, self.optional, self.never)
        return isinstance(other, Frame) and (other.frame_shape, other.optional, other.never) == mine

    def __repr__(self) -> str:
        if self.never:
            return "Frame(never)"
        size = "any size" if self.frame_shape is None else "x".join(map(str, self.frame_shape))
        return f"Frame({size}{', optional' if self.optional else ''})"


def is_json_like(value: Any) -> bool:
    """Whether ``value`` is a JSON scalar, or a list, tuple or string-keyed mapping of JSON-like values."""
    if isinstance(value, _JSON_SCALARS):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_json_like(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and is_json_like(v) for k, v in value.items())
    return False


class JSONData(spaces.Space[dict]):
    """String-keyed dicts of JSON-like values (see the module docstring); samples are small flat dicts."""

    def __init__(self, seed: Any = None):
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        return isinstance(x, dict) and is_json_like(x)

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        rng = self.np_random
        makers = (lambda: None, lambda: bool(rng.integers(2)), lambda: int(rng.integers(-100, 100)),
                  lambda: float(rng.normal()), lambda: "".join(rng.choice(list(string.ascii_lowercase), 4)))
        return {f"key{i}": makers[int(rng.integers(len(makers)))]() for i in range(int(rng.integers(4)))}

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, JSONData)

    def __repr__(self) -> str:
        return "JSONData()"


def observation_space(frame: Frame | None = None, *, text_max: int = TEXT_MAX) -> spaces.Dict:
    """The space of an lma observation whose image is ``frame`` (default: any size, optional)."""
    return spaces.Dict({"text": UnicodeText(text_max), "image": Frame() if frame is None else frame, "data": JSONData()})
