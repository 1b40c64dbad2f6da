"""Agents without a model: the floor (``random``) and the ceilings (``expert``, ``expert-driver``) of a comparison."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from lma.agents.base import Agent
from lma.core import Decision, Observation, Task, ToolCall
from lma.envs.driving.expert import DriverParams, decide
from lma.errors import LmaError


class RandomAgent(Agent):
    """Uniform over the tools valid now, arguments sampled from their schemas; seeded per episode."""

    name = "random"
    survey_type = "baseline"
    wiring = "uniform over valid tools; no model, no memory"

    def reset(self, task: Task, env: gym.Env) -> None:
        super().reset(task, env)
        env.unwrapped.action_space.seed(task.seed)

    def act(self, obs: Observation) -> Decision:
        return Decision(self.env.unwrapped.action_space.sample())


class ExpertAgent(Agent):
    """The env's own oracle policy (``env.unwrapped.expert_action()``): scripted, not learned.

    Used for tests of env adapters and to record fine-tuning data; it is named as what it is.
    """

    name = "expert"
    survey_type = "oracle"
    wiring = "the env's scripted expert policy; no model"

    def act(self, obs: Observation) -> Decision:
        return Decision(self.env.unwrapped.expert_action(), trace={"policy": "scripted expert"})


class ExpertDriver(Agent):
    """Agent ``expert-driver``: :func:`lma.envs.driving.expert.decide` on each observation's scene (scripted, no model)."""

    name = "expert-driver"
    survey_type = "oracle"
    wiring = "rule-based IDM/MOBIL-style driver over the scene kinematics; no model"

    def __init__(self, **params: float):
        self.params = DriverParams(**params)

    def act(self, obs: Observation) -> Decision:
        scene = obs.get("data", {}).get("scene")
        if scene is None:
            raise LmaError("expert-driver drives the meta-action driving scenarios (observations with "
                           "data['scene']); parking and other envs are not among them")
        available = [t.name for t in self.env.unwrapped.tools]
        name, reason = decide(scene, available, self.params)
        return Decision(ToolCall(name), trace={"policy": "rule-based expert driver", "rule": reason})

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **self.params.__dict__}
