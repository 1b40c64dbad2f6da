"""Any Gymnasium env as an lma env: each discrete action becomes a named tool.

``lma.make("ALE/Pong-v5")`` or ``lma.make("CartPole-v1")`` land here when the id is not an lma
env. Action names come from lma's table of well-known envs (:mod:`lma.envs.gym_actions`, which
also says their goal in words), else from the env where it has them (``get_action_meanings()`` in
ALE, the ``actions`` enum of MiniGrid), else ``action_0 .. action_{n-1}``. A ``Box`` action space
becomes a single ``act(values)`` tool. The observation text says what the env returned in a few
words; an RGB image observation (or else ``render()`` in ``rgb_array`` mode) becomes the frame, so
a VLM can play from pixels alone. ``observation_space`` gives the frame's real size: the image
observation's shape, or that of a frame rendered once when the wrapper is built (the inner env is
reset for it; ``reset`` starts the first episode afresh); an env with neither has no frames.

Success is never guessed (:mod:`lma.envs.gym_success`): the last step's ``info["success"]`` is
what the env declares, else the env's rule (``success=`` or a registered one), else None, unknown.
The env's own step limit (``spec.max_episode_steps``) is the episode's default length.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from lma.core import Observation, ToolCall
from lma.envs.base import ActionTool, ToolEnv
from lma.envs.gym_actions import ACTIONS, goal, known_name
from lma.envs.gym_success import Ending, SuccessRule, declared, rule_for
from lma.envs.spaces import Frame, observation_space
from lma.errors import UnknownNameError


def action_names(env: gym.Env) -> list[str]:
    """Names for a Discrete action space: lma's table, else the env's own, else ``action_i``."""
    n = int(env.action_space.n)
    inner = env.unwrapped
    names = [name for name, _ in ACTIONS.get(known_name(env) or "", [])]
    if not names and hasattr(inner, "get_action_meanings"):
        names = [str(m).lower() for m in inner.get_action_meanings()]
    elif not names and hasattr(inner, "actions"):
        names = [a.name for a in inner.actions][:n]
    if len(names) != n or len(set(names)) != n:
        names = [f"action_{i}" for i in range(n)]
    return names


def _is_frame_space(space: gym.Space) -> bool:
    """Whether observations in ``space`` are H x W x 3 uint8 images."""
    return isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and space.shape[2:] == (3,)


def _frame_space(inner: gym.Env) -> Frame:
    """The frames the wrapper will show: the observations themselves, rendered ones, or none."""
    if _is_frame_space(inner.observation_space):
        return Frame(inner.observation_space.shape[:2], optional=False)
    if inner.render_mode != "rgb_array":
        return Frame(never=True)
    inner.reset()
    frame = inner.render()
    if frame is None or not Frame().contains(frame):
        return Frame(never=True)  # it renders something other than an RGB frame: the wrapper shows none
    return Frame(frame.shape[:2], optional=False)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.ndim >= 2:
            return f"an image of shape {value.shape}"
        return "[" + ", ".join(f"{v:.3g}" for v in value.ravel()[:32]) + "]"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_describe(v)}" for k, v in value.items())
    return str(value)


class GymnasiumToolEnv(ToolEnv):
    """Wraps a plain Gymnasium env; the original is kept as ``self.inner``.

    ``success`` is the env's success rule (:mod:`lma.envs.gym_success`), used when the env itself
    declares nothing; without one, a registered rule for the env's name, else success is unknown.
    """

    def __init__(self, inner: gym.Env, success: str | SuccessRule | None = None):
        super().__init__()
        self.inner = inner
        self.max_episode_steps = inner.spec.max_episode_steps if inner.spec else None
        self._rule = rule_for(known_name(inner), success)
        self._goal = goal(inner)
        self._return = 0.0
        space = inner.action_space
        if isinstance(space, gym.spaces.Discrete):
            self._names = action_names(inner)
            meanings = dict(ACTIONS.get(known_name(inner) or "", []))
            self.tools = [ActionTool(n, meanings.get(n, f"take action {n!r}")) for n in self._names]
        elif isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
            self._names = []
            low, high = space.low.tolist(), space.high.tolist()
            params = {
                "type": "object",
                "properties": {
                    "values": {
                        "type": "array",
                        "items": {"type": "number"},
                        "minItems": space.shape[0],
                        "maxItems": space.shape[0],
                    }
                },
                "required": ["values"],
                "additionalProperties": False,
            }
            self.tools = [ActionTool("act", f"continuous action, bounds {low} .. {high}", params)]
        else:
            raise TypeError(f"cannot wrap action space {space}: only Discrete and 1-D Box")
        self.observation_space = observation_space(_frame_space(inner))

    def _observe(self, raw: Any, info: dict[str, Any]) -> Observation:
        frame = self.observation_space["image"]
        if frame.never:
            image = None
        elif _is_frame_space(self.inner.observation_space):
            image = raw
        else:
            image = self.inner.render()
        mission = raw.get("mission") if isinstance(raw, dict) else None
        text = f"Mission: {mission}\n" if mission else f"Goal: {self._goal}\n" if self._goal else ""
        text += f"Observation: {_describe(raw)}"
        data: dict[str, Any] = {"raw_info": {k: str(v) for k, v in info.items()}}
        if self._goal:
            data["goal"] = self._goal
        return {"text": text, "image": image, "data": data}

    def _reset(self, seed: int | None):
        raw, info = self.inner.reset(seed=seed)
        self._return = 0.0
        return self._observe(raw, info), info

    def _success(self, terminated: bool, truncated: bool, reward: float, info: dict[str, Any]) -> bool | None:
        """Success on this step: declared by the env, else by the rule at the episode's end, else None.

        Without a rule every step says None, so an episode cut short by the runner's step cap is
        unknown too; with one, only the last step says anything (the runner counts a cut-off episode
        as a failure).
        """
        said = declared(info)
        if said is not None or self._rule is None or not (terminated or truncated):
            return said
        return bool(self._rule(Ending(terminated, truncated, reward, self._return, info)))

    def _act(self, call: ToolCall):
        if self._names:
            action: Any = self._names.index(call.name)
        else:
            action = np.asarray(call.args["values"], dtype=self.inner.action_space.dtype)
        raw, reward, terminated, truncated, info = self.inner.step(action)
        self._return += float(reward)
        info = dict(info)
        success = self._success(terminated, truncated, float(reward), info)
        if success is not None or self._rule is None:
            info["success"] = success
        return self._observe(raw, info), reward, terminated, truncated, info

    def close(self) -> None:
        self.inner.close()


def make_gymnasium(id: str, *, known: list[str] = (), success: str | SuccessRule | None = None,
                   **kwargs: Any) -> GymnasiumToolEnv:
    """``gymnasium.make(id, **kwargs)`` wrapped, with its success rule; unknown ids raise
    :class:`UnknownNameError` over both registries."""
    if id not in gym.registry:
        if "/" in id:  # a namespaced id may need its package imported first (ALE, MiniGrid)
            namespace = id.split("/")[0].lower()
            for module in {"ale": ["ale_py"], "minigrid": ["minigrid"], "babyai": ["minigrid"]}.get(namespace, []):
                try:
                    gym.register_envs(__import__(module))
                except ImportError:
                    pass
    if id not in gym.registry:
        raise UnknownNameError("env", id, list(known) + list(gym.registry), "envs")
    kwargs.setdefault("render_mode", "rgb_array")
    try:
        inner = gym.make(id, **kwargs)
    except TypeError:
        kwargs.pop("render_mode")
        inner = gym.make(id, **kwargs)
    return GymnasiumToolEnv(inner, success)
