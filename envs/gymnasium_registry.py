"""lma's envs in Gymnasium's own registry: ``gymnasium.make("lma/babyai-GoToObj-v0")``.

Gymnasium ids are ``[namespace/]name[-vN]`` with no ``/`` inside the name, so an lma id keeps
its spelling with its one ``/`` turned into ``-``, in the namespace ``lma``:
``babyai/GoToObj-v0`` is ``lma/babyai-GoToObj-v0``, ``miniwob/click-button-v0`` is
``lma/miniwob-click-button-v0`` (:func:`gymnasium_id`). ``gymnasium.make`` builds the env
through lma's registry (so the same defaults, extras and errors apply) and wraps it in
Gymnasium's usual wrappers (the passive env checker, order enforcing); ``env.unwrapped`` is the
lma env. Keyword arguments pass through: ``gymnasium.make("lma/babyai-GoToObj-v0",
max_steps=20)``. lma envs render ``rgb_array`` only (the last observation's frame).

:func:`register_envs` registers every lma env id; lma's registry calls it once its envs are
discovered, and it may be called again after ``lma.register`` adds more (ids already there are
kept).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import gymnasium as gym

from lma.errors import LmaError

log = logging.getLogger(__name__)

NAMESPACE = "lma"
_NAME = re.compile(r"[\w.-]+")  # Gymnasium's env-name characters, less ":" (gymnasium.make reads "module:id")


def gymnasium_id(lma_id: str) -> str:
    """The Gymnasium id of an lma env id: ``babyai/GoToObj-v0`` -> ``lma/babyai-GoToObj-v0``."""
    return f"{NAMESPACE}/{lma_id.replace('/', '-')}"


def make_env(lma_id: str, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """Gymnasium's entry point for every lma id: the env ``lma.make(lma_id, **kwargs)`` builds."""
    if render_mode not in (None, "rgb_array"):
        raise LmaError(f"lma envs render 'rgb_array' only (the last frame), not {render_mode!r}")
    from lma.envs import make  # here: lma.envs may import this module while it registers its envs

    return make(lma_id, **kwargs)


def register_envs(lma_ids: Iterable[str]) -> list[str]:
    """Register each lma id with Gymnasium under :func:`gymnasium_id`; return the ids registered now.

    An id Gymnasium cannot take (a character other than letters, digits, ``_.-`` and ``/``, or a
    clash Gymnasium refuses) is skipped with a logged warning; an id already in Gymnasium's
    registry is left as it is.
    """
    added = []
    for lma_id in lma_ids:
        gym_id = gymnasium_id(lma_id)
        if gym_id in gym.registry:
            continue
        if not _NAME.fullmatch(lma_id.replace("/", "-")):
            log.warning("lma env %r has no Gymnasium id: only letters, digits, _ . - and / can be spelled", lma_id)
            continue
        try:
            gym.register(gym_id, entry_point=f"{__name__}:make_env", kwargs={"lma_id": lma_id})
        except gym.error.Error as exc:
            log.warning("Gymnasium refused %r for lma env %r: %s", gym_id, lma_id, exc)
            continue
        added.append(gym_id)
    return added
