"""The lma env contract: a ``gymnasium.Env`` whose actions are tool calls.

What a user must know: ``reset(seed=...)`` and ``step(ToolCall)`` behave as in Gymnasium; the
observation is an :class:`lma.core.Observation` dict (``text``, ``image``, ``data``); and
``env.unwrapped.tools`` lists the tools valid *now* (it may change between steps, as on a web page).

What a subclass must set: ``tools`` (after ``reset``), and implement ``_reset(seed)`` returning
``(obs, info)`` and ``_act(call)`` returning ``(obs, reward, terminated, truncated, info)``; the
base class validates every call first, so ``_act`` only ever sees a known tool with valid
arguments. An invalid call does not change the env: it returns the current observation, zero
reward and ``info["error"]``. Set ``info["success"]`` on the final step; the runner reads it.
Subclasses that can solve their own task for tests and training data implement
``expert_action()`` (an oracle policy; agent ``expert`` calls it).

How to reproduce: the same seed gives the same episode; randomness comes only from
``self.np_random`` seeded by ``reset``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from lma.core import Observation, ToolCall
from lma.tools.base import Tool, validate_call


class ToolCallSpace(gym.Space):
    """The action space of an lma env: calls to the tools the env offers now.

    ``sample()`` picks a tool uniformly and fills its arguments from the schema (enums, ranges,
    short strings), which is what agent ``random`` uses.
    """

    def __init__(self, env: ToolEnv):
        super().__init__(shape=None, dtype=None)
        self.env = env

    def contains(self, x: Any) -> bool:
        return isinstance(x, ToolCall) and validate_call(x, self.env.tools) is None

    def sample(self, mask: Any = None, probability: Any = None) -> ToolCall:
        tools = self.env.tools
        t = tools[int(self.np_random.integers(len(tools)))]
        props = t.parameters.get("properties", {})
        required = t.parameters.get("required", list(props))
        return ToolCall(t.name, {k: _sample_value(props[k], self.np_random) for k in required})

    def __repr__(self) -> str:
        return f"ToolCallSpace({[t.name for t in self.env.tools]})"


def _sample_value(schema: dict[str, Any], rng: np.random.Generator) -> Any:
    if "enum" in schema:
        return schema["enum"][int(rng.integers(len(schema["enum"])))]
    kind = schema.get("type", "string")
    if kind == "integer":
        return int(rng.integers(schema.get("minimum", 0), schema.get("maximum", 10) + 1))
    if kind == "number":
        return float(rng.uniform(schema.get("minimum", 0.0), schema.get("maximum", 1.0)))
    if kind == "boolean":
        return bool(rng.integers(2))
    if kind == "array":
        return [_sample_value(schema.get("items", {}), rng)]
    return "".join(rng.choice(list("abcdefghij"), size=3))


class ToolEnv(gym.Env):
    """Base class of lma envs; see the module docstring for the contract."""

    metadata = {"render_modes": ["rgb_array"]}
    tools: list[Tool]

    def __init__(self) -> None:
        self.tools = []
        self.action_space = ToolCallSpace(self)
        self._last_obs: Observation = {"text": "", "image": None, "data": {}}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
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
        if problem:
            return self._last_obs, 0.0, False, False, {"error": problem}
        obs, reward, terminated, truncated, info = self._act(action)
        self._last_obs = obs
        return obs, float(reward), bool(terminated), bool(truncated), info

    def render(self) -> np.ndarray | None:
        return self._last_obs.get("image")

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


class ActionTool(Tool):
    """A tool that only describes an env action: the env carries it out in ``_act``."""

    def __init__(self, name: str, description: str, parameters: dict[str, Any] | None = None):
        self.name, self.description = name, description
        self.parameters = parameters or {"type": "object", "properties": {}, "additionalProperties": False}

    def run(self, **args: Any) -> str:
        raise TypeError(f"{self.name} is an env action: send it through env.step")
