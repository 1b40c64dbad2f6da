"""Observations that pay only for what is read: costly fields are computed on first access.

An lma observation is a dict (``text``, ``image``, ``data``) that Gymnasium and every agent read
with ``obs["image"]`` or ``obs.get("image")``. Rendering a frame costs several times an env step
(BabyAI: ~0.6 ms against ~0.2 ms), and a text-only planner recording no frames never looks at it.
So an env hands out a :class:`LazyObservation`, a ``dict`` subclass (Gymnasium's ``Dict`` space
requires a real ``dict``) whose costly values are :class:`Deferred`: made on first read, then kept.

Why lazy values rather than a ``needs`` declaration passed to the env: the readers of a frame are
many and far apart (perceivers, the recorder, ``env.render()``, Gymnasium wrappers, user code),
and any of them may read it or not at each step; a declaration made at reset would have to be
right for all of them ahead of time, and a missing frame would break ``observation_space``.
A lazy value is simply there whenever someone looks.

One rule keeps an observation true to its own step: a value is a function of the env's state, so
when the env is about to change (the next ``step`` or ``reset``, or ``close``) every value not
read yet is *settled*: computed then, at the state it belongs to. That costs what eager rendering
costs, never more, and keeps Gymnasium's semantics (an observation kept and read later, as
``check_env`` does, holds its own frame). A reader that knows nobody will look again, such as the
runner once the agent and the recorder have had their turn, :func:`release` s the observation:
its unread values are dropped instead of settled, and reading one after the env moved on raises
:class:`lma.errors.LmaError` (reading it before still works: the env is still in that state).

Copies (``copy.deepcopy``, pickling, ``dict(obs)``) read every value, so a copy is plain data.
A value is made on the thread that reads it: an env whose state may be read only from its own
thread (Playwright's sync API) should not defer values that need it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from lma.errors import LmaError

_PENDING, _DONE, _RELEASED, _DROPPED = range(4)


class Deferred:
    """A value made by ``make()`` on first :meth:`get`, then kept; see the module docstring."""

    __slots__ = ("_make", "_state", "_value", "what")

    def __init__(self, make: Callable[[], Any], what: str = "value"):
        self._make: Callable[[], Any] | None = make
        self._value: Any = None
        self._state = _PENDING
        self.what = what

    @property
    def ready(self) -> bool:
        """Whether the value has been made (reading it costs nothing more)."""
        return self._state == _DONE

    def get(self) -> Any:
        if self._state == _DROPPED:
            raise LmaError(f"the observation's {self.what} was released unread and the env has moved on; "
                           f"read it before the next step or reset")
        if self._state != _DONE:
            assert self._make is not None
            self._value, self._make, self._state = self._make(), None, _DONE
        return self._value

    def release(self) -> None:
        """Nobody will read this after the env moves on: :meth:`settle` drops it then."""
        if self._state == _PENDING:
            self._state = _RELEASED

    def settle(self) -> None:
        """The env is about to change: make the value now, or drop it if it was released."""
        if self._state == _PENDING:
            self.get()
        elif self._state == _RELEASED:
            self._make, self._state = None, _DROPPED


class LazyObservation(dict):
    """A ``dict`` whose :class:`Deferred` values are made when read; see the module docstring.

    Every way of reading a value goes through ``__getitem__`` (``get``, ``items``, ``values``,
    iteration by ``dict(obs)`` or ``{**obs}``, ``==``, copies, pickling); keys, ``in`` and
    ``len`` read nothing.
    """

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        return value.get() if isinstance(value, Deferred) else value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def __iter__(self) -> Iterator[str]:
        # Defined here so that CPython's dict merge (``dict(obs)``, ``{**obs}``, ``update``) takes
        # its generic path, keys then ``__getitem__``, instead of copying the stored Deferreds.
        return dict.__iter__(self)

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self[k] for k in self.keys()]

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return [(k, self[k]) for k in self.keys()]

    def pop(self, key: str, *default: Any) -> Any:
        value = self[key] if key in self or not default else default[0]
        dict.pop(self, key, None)
        return value

    def popitem(self) -> tuple[str, Any]:
        key = next(reversed(self.keys()))
        return key, self.pop(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def copy(self) -> LazyObservation:
        return LazyObservation(self.items())

    def __or__(self, other: Any) -> LazyObservation:
        merged = self.copy()
        merged.update(other)
        return merged

    def __eq__(self, other: object) -> bool:
        return isinstance(other, dict) and dict(self.items()) == dict(other.items())

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = {k: "<not made yet>" if isinstance(v, Deferred) and not v.ready else self[k]
                 for k, v in dict.items(self)}
        return f"LazyObservation({shown!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> LazyObservation:
        return LazyObservation((k, copy.deepcopy(v, memo)) for k, v in self.items())

    def __reduce__(self) -> tuple[Any, ...]:
        return LazyObservation, (self.items(),)

    def release(self) -> None:
        """Unread values are dropped, not made, when the env moves on (see the module docstring)."""
        for value in dict.values(self):
            if isinstance(value, Deferred):
                value.release()


def release(obs: Any) -> None:
    """:meth:`LazyObservation.release` for a lazy observation; nothing for any other."""
    if isinstance(obs, LazyObservation):
        obs.release()
