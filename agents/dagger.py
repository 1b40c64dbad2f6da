"""Agent ``dagger``: a learner acts, the env's expert says at every step what it would have done.

DAgger (Ross et al., 2011) trains a planner on the states it reaches itself, labelled by the
expert: a planner trained on the expert's own trajectories has seen few of its own mistakes, and
its errors compound. A run of ``dagger`` records, with every step of the learner (its prompt
included), the expert's call for that state in ``trace["dagger"]["expert"]``; :mod:`lma.train.data`
then trains on the learner's calls where they agree with the expert, keeps the others in the
history as context, and adds the expert's call at each such state as a target of its own. Every
episode is labelled, failed ones included: those are where the learner needs the labels most.

With ``beta`` (DAgger's mixing share) the expert's call is executed instead of the learner's on
that share of steps, drawn with the episode's seed. The expert is asked at every step, so an expert
that replans from the action actually taken (BabyAI's bot) stays in step with the episode.
"""

from __future__ import annotations

import random
from typing import Any

import gymnasium as gym

from lma.agents.base import Agent
from lma.core import Decision, EpisodeResult, Observation, StepRecord, Task
from lma.errors import LmaError
from lma.registry import agents


class DaggerAgent(Agent):
    """``learner`` (a registered agent name, ``type2`` by default, built with the other options)
    acting, with the env's expert's labels; see the module docstring."""

    name = "dagger"
    survey_type = "training"
    wiring = "a learner acting, the env's scripted expert labelling each step (DAgger data)"

    def __init__(self, learner: str = "type2", beta: float = 0.0, **options: Any):
        if not 0.0 <= beta <= 1.0:
            raise LmaError(f"dagger: beta must be in [0, 1], got {beta}")
        if learner == self.name:
            raise LmaError("dagger: the learner cannot be dagger itself")
        self.learner = agents.make(learner, **options)
        self.learner_name, self.beta, self.options = learner, beta, options

    def reset(self, task: Task, env: gym.Env) -> None:
        super().reset(task, env)
        self.rng = random.Random(task.seed)
        self.learner.reset(task, env)

    def act(self, obs: Observation) -> Decision:
        expert = self.env.unwrapped.expert_action()
        decision = Decision.of(self.learner.act(obs))
        executed = "expert" if self.beta and self.rng.random() < self.beta else "learner"
        trace = {**decision.trace, "dagger": {"expert": {"name": expert.name, "args": dict(expert.args)},
                                              "executed": executed}}
        if executed == "expert":
            return Decision(expert, decision.usage, trace=trace)
        return Decision(decision.call, decision.usage, decision.error, trace)

    def observe(self, record: StepRecord) -> None:
        self.learner.observe(record)

    def end(self, result: EpisodeResult) -> None:
        self.learner.end(result)

    def close(self) -> None:
        self.learner.close()

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "learner": self.learner_name, "beta": self.beta, **self.options}
