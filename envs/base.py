"""The lma env contract: a ``gymnasium.Env`` whose actions are tool calls.

What a user must know: ``reset(seed=...)`` and ``step(ToolCall)`` behave as in Gymnasium; the
observation is an :class:`lma.core.Observation` dict (``text``, ``image``, ``data``) inside
``observation_space`` (:mod:`lma.envs.spaces`); ``env.unwrapped.tools`` lists the tools valid
*now* (it may change between steps, as on a web page); and ``render()`` returns the last frame
(render mode ``rgb_array``). ``gymnasium.utils.env_checker.check_env`` passes on every lma env.

What a subclass must set: ``tools`` (after ``reset``; lma tools, or anything
:func:`lma.tools.as_tool` accepts, such as a LangChain ``BaseTool``, wrapped on assignment),
``observation_space`` with its real frame (``observation_space(Frame((height, width),
optional=False))``; the default, frames of any size or none, is true of every env but says
little), and implement ``_reset(seed)`` returning ``(obs, info)`` and ``_act(call)`` returning
``(obs, reward, terminated, truncated, info)``; the base class validates every call first, so
``_act`` only ever sees a known tool with valid arguments. An invalid call does not change the
env: it returns the current observation, zero reward and ``info["error"]``. Set
``info["success"]`` on the final step; the runner reads it.
Subclasses that can solve their own task for tests and training data implement
``expert_action()`` (an oracle policy; agent ``expert`` calls it).

Costly fields (a rendered frame) may be computed only when read: build the observation as a
:class:`~lma.envs.observation.LazyObservation` whose value is ``self.defer(make)``. The base class
settles every such value before the env changes (at the next ``step`` or ``reset``; a subclass
whose values cannot be made once it is closed calls ``self.settle_deferred()`` in ``close``), so each
observation always holds its own step's frame (see :mod:`lma.envs.observation`).

How to reproduce: the same seed gives the same episode; randomness comes only from
``self.np_random`` seeded by ``reset``.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np

from lma.core import Observation, ToolCall
from lma.envs.observation import Deferred
from lma.envs.spaces import Frame, observation_space
from lma.tools.base import Tool, as_tool, validate_call


class ToolCallSpace(gym.Space):
    """The action space of an lma env: calls to the tools the env offers now.

    ``sample()`` picks a tool uniformly and fills its required arguments from the schema (enums,
    constants, ranges, lengths), which is what agent ``random`` uses; every sample is a call
    ``contains`` accepts. Seed it with ``seed()`` (``reset(seed=...)`` does) for the same calls.
    """

    def __init__(self, env: ToolEnv):
        super().__init__(shape=None, dtype=None)
        self.env = env

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        return isinstance(x, ToolCall) and validate_call(x, self.env.tools) is None

    def sample(self, mask: Any = None, probability: Any = None) -> ToolCall:
        tools = self.env.tools
        if not tools:
            raise RuntimeError(f"{type(self.env).__name__} offers no tools now; call reset() first")
        t = tools[int(self.np_random.integers(len(tools)))]
        return ToolCall(t.name, _sample_value({"type": "object", **t.parameters}, self.np_random))

    def __repr__(self) -> str:
        return f"ToolCallSpace({[t.name for t in self.env.tools]})"


def _sample_value(schema: dict[str, Any], rng: np.random.Generator) -> Any:
    """A value that fits ``schema`` (the subset of JSON schema that tool parameters use)."""
    if "const" in schema:
        return schema["const"]
    for key in ("enum", "anyOf", "oneOf"):
        if key in schema:
            option = schema[key][int(rng.integers(len(schema[key])))]
            return option if key == "enum" else _sample_value(option, rng)
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "integer":
        low, high = _bounds(schema, 1, 10)
        return int(rng.integers(low, high + 1))
    if kind == "number":
        return float(rng.uniform(*_bounds(schema, 1e-9, 1.0)))
    if kind == "boolean":
        return bool(rng.integers(2))
    if kind == "null":
        return None
    if kind == "array":
        return [_sample_value(schema.get("items", {}), rng) for _ in range(schema.get("minItems", 1))]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _sample_value(props.get(k, {}), rng) for k in schema.get("required", list(props))}
    length = max(3, schema.get("minLength", 0))
    length = min(length, schema.get("maxLength", length))
    return "".join(rng.choice(list("abcdefghij"), size=length))


def _bounds(schema: dict[str, Any], step: float, width: float) -> tuple[Any, Any]:
    """The inclusive range of a numeric schema; ``0 .. width`` (or ``width`` wide) where it says nothing."""
    low = schema.get("minimum", schema["exclusiveMinimum"] + step if "exclusiveMinimum" in schema else None)
    high = schema.get("maximum", schema["exclusiveMaximum"] - step if "exclusiveMaximum" in schema else None)
    if low is None:
        low = 0 if high is None or high >= 0 else high - width
    return low, (low + width if high is None else high)


class ToolEnv(gym.Env):
    """Base class of lma envs; see the module docstring for the contract."""

    # One frame per step: render_fps is only the speed at which a video of an episode plays.
    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}
    # The env's own step limit, where it has one (the runner uses it when the task sets none).
    max_episode_steps: int | None = None

    def __init__(self) -> None:
        self.tools = []
        self.action_space = ToolCallSpace(self)
        self.observation_space = observation_space()
        self._last_obs: Observation = {"text": "", "image": None, "data": {}}
        self._deferred: list[Deferred] = []  # the lazy values handed out since the env last changed

    @property
    def tools(self) -> list[Tool]:
        """The tools valid now, as lma tools."""
        return self._tools

    @tools.setter
    def tools(self, tools: list[Any]) -> None:
        # Whatever a subclass offers (lma tools, LangChain tools, typed functions) is wrapped here,
        # once, so validation, the planner's prompt and the action space all see lma tools.
        self._tools = [as_tool(t) for t in tools]

    @property
    def render_mode(self) -> str | None:  # type: ignore[override]
        """``"rgb_array"`` (``render()`` is the last frame), or None for an env that shows no frames."""
        frame = self.observation_space["image"]
        return None if isinstance(frame, Frame) and frame.never else "rgb_array"

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.settle_deferred()
        super().reset(seed=seed)
        self.action_space.seed(seed)
        obs, info = self._reset(seed)
        self._last_obs = obs
        return obs, info

    def step(self, action: ToolCall):
        if not isinstance(action, ToolCall):
            problem = f"action must be a ToolCall, got {type(action).__name__}"
        else:
            problem = validate_call(action, self.tools)
        if problem:  # a copy: the caller may keep and change what it was given before
            return deepcopy(self._last_obs), 0.0, False, False, {"error": problem}
        self.settle_deferred()
        obs, reward, terminated, truncated, info = self._act(action)
        if obs is self._last_obs:  # a subclass returned the unchanged observation (a failed step)
            obs = deepcopy(obs)
        self._last_obs = obs
        return obs, float(reward), bool(terminated), bool(truncated), info

    def render(self) -> np.ndarray | None:
        return self._last_obs.get("image")

    def defer(self, make: Callable[[], Any], what: str = "frame") -> Deferred:
        """A value of the coming observation that ``make()`` computes when first read (or when settled)."""
        value = Deferred(make, what)
        self._deferred.append(value)
        return value

    def settle_deferred(self) -> None:
        """Make (or drop, if released) every lazy value handed out, before the env's state changes."""
        for value in self._deferred:
            value.settle()
        self._deferred.clear()

    def tool(self, name: str) -> Tool:
        """The tool called ``name`` among those valid now."""
        for t in self.tools:
            if t.name == name:
                return t
        raise KeyError(name)

    def expert_action(self) -> ToolCall:
        """The oracle policy's next action; envs that have one override this."""
        raise NotImplementedError(f"{type(self).__name__} has no expert policy")

    # Subclasses implement these two.
    def _reset(self, seed: int | None) -> tuple[Observation, dict[str, Any]]:
        raise NotImplementedError

    def _act(self, call: ToolCall) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        raise NotImplementedError


NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


class ActionTool(Tool):
    """A tool that only describes an env action: the env carries it out in ``_act``."""

    def __init__(self, name: str, description: str, parameters: dict[str, Any] | None = None):
        self.name, self.description = name, description
        self.parameters = parameters or dict(NO_PARAMETERS)

    def validate(self, args: dict[str, Any]) -> str | None:
        """As :meth:`Tool.validate`; a call without arguments to an action that takes none (most
        game actions) is valid without running the schema validator, which each step would pay
        twice (the planner's check and the env's)."""
        if args == {} and self.parameters == NO_PARAMETERS:
            return None
        return super().validate(args)

    def run(self, **args: Any) -> str:
        raise TypeError(f"{self.name} is an env action: send it through env.step")
