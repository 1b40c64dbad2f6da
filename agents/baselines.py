"""Agents without a model: the floor (``random``) and the ceiling (``expert``) of a comparison."""

from __future__ import annotations

import gymnasium as gym

from lma.agents.base import Agent
from lma.core import Decision, Observation, Task


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
