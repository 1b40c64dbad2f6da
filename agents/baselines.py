"""Agents without a model: the floor (``random``) and the ceilings (``expert``, ``expert-driver``) of a comparison."""

from __future__ import annotations

import random
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

    ``noise`` (``expert?noise=0.2``) is the share of steps where another tool than the expert's,
    drawn uniformly (seeded by the episode's seed), is taken instead: noise injection for imitation
    learning (DART, Laskey et al., 2017). A planner trained only on the expert's own states has never
    seen a mistake and, once it makes one, tends to repeat its last call; with noise the recorded
    episodes show the expert recovering from off-course states. The expert is asked at every step, so
    an expert that replans from the action actually taken (BabyAI's bot) stays in step. Noisy steps
    are marked ``trace["noise"]`` and :mod:`lma.train.data` keeps them as context, never as targets.

    ``decoy`` (``expert?decoy=0.5``) is the share of episodes (drawn from the episode's seed) that
    start with the env's decoy (``env.unwrapped.decoy_action()``: BabyAI's bot on the mission with
    its objects' roles swapped) until it hands over; its steps are marked as noise too. Single-step
    noise almost never makes the mistake a learner makes most on two-object missions, a whole plan
    built on the wrong object, so no recorded episode shows the expert recovering from it.
    """

    name = "expert"
    survey_type = "oracle"
    wiring = "the env's scripted expert policy; no model"

    def __init__(self, noise: float = 0.0, decoy: float = 0.0):
        if not 0.0 <= noise < 1.0:
            raise LmaError(f"expert: noise must be in [0, 1), got {noise}")
        if not 0.0 <= decoy <= 1.0:
            raise LmaError(f"expert: decoy must be in [0, 1], got {decoy}")
        self.noise, self.decoy = noise, decoy

    def reset(self, task: Task, env: gym.Env) -> None:
        super().reset(task, env)
        if self.decoy and not hasattr(env.unwrapped, "decoy_action"):
            raise LmaError(f"expert: decoy needs an env with decoy_action() (BabyAI's); {task.env_id} has none")
        self.rng = random.Random(task.seed)
        self.decoyed = bool(self.decoy) and self.rng.random() < self.decoy  # this episode starts with the decoy

    def act(self, obs: Observation) -> Decision:
        call = self.env.unwrapped.expert_action()  # asked at every step, so that it replans from what was done
        decoy = self.env.unwrapped.decoy_action() if self.decoyed else None  # None for good once it hands over
        if decoy is not None:
            return Decision(decoy, trace={"policy": "scripted expert", "noise": True, "decoy": True,
                                          "expert_call": call.name})
        if self.noise and self.rng.random() < self.noise:
            others = [t.name for t in self.env.unwrapped.tools
                      if t.name != call.name and not t.parameters.get("required")]  # tools that need no arguments
            if others:
                taken = ToolCall(self.rng.choice(others))
                return Decision(taken, trace={"policy": "scripted expert", "noise": True, "expert_call": call.name})
        return Decision(call, trace={"policy": "scripted expert"})

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **{k: v for k, v in (("noise", self.noise), ("decoy", self.decoy)) if v}}


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
