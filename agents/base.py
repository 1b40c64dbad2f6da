"""The Agent protocol.

What a user must know: the runner calls ``reset(task, env)`` once per episode, then ``act(obs)``
each step, ``observe(record)`` after the env answered, and ``end(result)`` when the episode is
over. ``act`` returns a :class:`lma.core.Decision` (or a bare :class:`lma.core.ToolCall`, which the
runner wraps). An agent reads the tools valid now from ``env.unwrapped.tools``; it may offer the
planner extra agent-side tools (memory) that never reach the env.

What a subclass must set: ``name`` and ``act``; ``survey_type`` and ``wiring`` say, in
``lma list agents``, where the agent sits in the survey's taxonomy and what it wires together.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from lma.core import Decision, EpisodeResult, Observation, StepRecord, Task, ToolCall


class Agent:
    name = "agent"
    survey_type = "-"
    wiring = ""

    def reset(self, task: Task, env: gym.Env) -> None:
        self.task, self.env = task, env

    def act(self, obs: Observation) -> Decision | ToolCall:
        raise NotImplementedError

    def observe(self, record: StepRecord) -> None:
        """Called after each step with what happened; the default ignores it."""

    def end(self, result: EpisodeResult) -> None:
        """Called once the episode is over (memory agents write their experience here)."""

    def close(self) -> None:
        """Release models, memories or processes the agent holds."""

    def config(self) -> dict[str, Any]:
        """What a run's config.yaml records about this agent, enough to rebuild it."""
        return {"name": self.name}
