"""The data that flows through an episode: plain dataclasses, no behaviour.

An episode is ``env.reset() -> Observation``, then repeatedly ``agent.act(obs) -> Decision`` and
``env.step(decision.call) -> (Observation, reward, terminated, truncated, info)``. Every step is
kept as a :class:`StepRecord`; the episode ends as an :class:`EpisodeResult`. Everything here is
JSON-serialisable through :func:`to_jsonable`, which is what the recorder writes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np


class Observation(TypedDict, total=False):
    """What an lma env returns from ``reset`` and ``step``.

    ``text`` is the goal and the state in words, ``image`` an optional H x W x 3 uint8 frame, and
    ``data`` structured extras (an accessibility tree, element boxes, kinematics). Plain
    Gymnasium envs are wrapped so they produce this shape too (see :mod:`lma.envs.gym_wrapper`).
    """

    text: str
    image: np.ndarray | None
    data: dict[str, Any]


def goal_of(obs: Observation) -> str:
    """The episode's goal as agents take it from its first observation: ``data["goal"]`` when the
    env gives one, else the text's first line (the runner and the training data must agree)."""
    return str(obs.get("data", {}).get("goal") or obs.get("text", "").split("\n")[0])


@dataclass(frozen=True)
class ToolCall:
    """One action: the name of a tool and its arguments, validated against the tool's schema."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.name}({inner})"


@dataclass
class ToolResult:
    """What a tool returns: ``ok`` and a text ``output``, or an ``error``; optionally an image."""

    ok: bool = True
    output: str = ""
    error: str | None = None
    image: np.ndarray | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Usage:
    """Tokens and seconds a model spent; summed over a step or an episode.

    ``tokens_in`` counts every prompt token; ``tokens_cached`` those of them the backend did not
    evaluate again because it kept them from an earlier request (a KV-cache prefix), so
    ``tokens_in - tokens_cached`` is the prompt work actually done.
    """

    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    tokens_cached: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.latency + other.latency,
            self.tokens_cached + other.tokens_cached,
        )


@dataclass
class Decision:
    """What an agent returns from ``act``: the env action, and the trace of how it was chosen.

    ``call`` is None when the agent could not produce a valid action (for example the model's
    output failed validation on every retry); the runner records the step with ``error`` and
    does not step the env. ``trace`` carries what the perceiver saw, the model's raw output and
    any agent-side tool calls (memory), so that a trajectory shows the whole reasoning.
    """

    call: ToolCall | None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    trace: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, returned: Decision | ToolCall) -> Decision:
        """What ``act`` returned, as a Decision: an agent may return a bare call (scripted agents do)."""
        return cls(returned) if isinstance(returned, ToolCall) else returned


@dataclass
class Task:
    """One episode to run: which env, which seed, and the limits it runs under."""

    env_id: str
    seed: int
    max_steps: int | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    goal: str = ""


@dataclass
class StepRecord:
    """One line of ``trajectory.jsonl``."""

    step: int
    observation: str
    call: ToolCall | None
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    error: str | None = None
    result: str = ""
    frame: str | None = None
    trace: dict[str, Any] = field(default_factory=dict)


@dataclass
class EpisodeResult:
    """One line of ``results.jsonl``: the outcome of one (agent, env, seed) episode.

    ``retries`` counts the planner's tries that failed validation, over all steps (each is in its
    step's ``trace["rejected"]`` with the reason); agents that plan with a model fill it in.
    """

    episode_id: str
    env: str
    agent: str
    seed: int
    success: bool | None = False  # None: the env cannot tell (unknown, neither success nor failure)
    return_: float = 0.0
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    model_seconds: float = 0.0
    seconds: float = 0.0
    error: str | None = None
    tokens_cached: int = 0
    retries: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The results.jsonl row; ``return_`` is written as ``return``."""
        row = to_jsonable(self)
        row["return"] = row.pop("return_")
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> EpisodeResult:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in row.items() if k in known}
        values["return_"] = row.get("return", 0.0)
        return cls(**values)


def to_jsonable(value: Any) -> Any:
    """Turn dataclasses, numpy scalars and arrays into JSON-friendly values (arrays are dropped)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return None
    return value
