"""The planner's prompt: one home for inference and for ``lma finetune``.

A planner is trained on its exact prompt, so the prompt is written here alone: :func:`plan_input`
gathers what one step may read and :func:`render` lays it out as chat messages. The agent calls
both at every step; :mod:`lma.train.data` calls both to rebuild the prompts of recorded episodes.

The layout (version :data:`LAYOUT`) is made for prefix reuse: what does not change within an
episode comes first and the episode grows by appending, so a backend that keeps its KV cache
(llama.cpp does) evaluates only the newest tokens at each step::

    system     SYSTEM_PROMPT, then the tools ("Tools:\\n- name(args): description")
    user       "Goal: ..." then the first observation in the window
    assistant  {"name": ..., "args": {...}}            one pair per past step in the window
    user       "Result: ..." of that call, then the next observation
    ...
    user       (last) recalled memories and memory-tool results of this step, then "Result: ..."
               and the current observation

The window holds at most ``history`` past steps and at most :data:`HISTORY_CHARS` characters of
them, and is trimmed in blocks of ``history // 2`` steps (:func:`window_start`), so between two
trims the prompt only grows (and a page-sized observation cannot push the prompt past the model's
context). Recalled memories change at
every step, so they sit in the last message, after the shared prefix.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lma.core import StepRecord, ToolCall
from lma.models.base import Message, ModelError
from lma.models.records import training_record
from lma.tools.base import Tool

LAYOUT = 2  # version 1 put a sliding "Recent steps" list and the tools in one user message
DEFAULT_HISTORY = 16  # past steps, as BALROG's 16 messages of history
HISTORY_CHARS = 6000  # about 1,500-2,000 tokens of past steps at most
RESULT_CHARS = 160
SYSTEM_PROMPT = (
    "You are an agent that completes tasks by calling tools. Each turn, call exactly one tool. "
    'Answer only with JSON of the form {"name": "<tool>", "args": {...}}.'
)


def planner_history(model: str | None, given: int | None = None) -> int:
    """How many past steps to show the planner ``model``: ``given``, else as many as it was trained
    with (its training record, :mod:`lma.models.records`), else :data:`DEFAULT_HISTORY`. A planner
    trained on another prompt layout is refused with a :class:`ModelError`: every prompt it would
    be asked is one it has never seen, and it would fail quietly."""
    record = training_record(model) if model else {}
    layout = record.get("prompt_layout", LAYOUT)
    if layout != LAYOUT:
        raise ModelError(f"{model} was trained on prompt layout {layout}, and this lma writes layout {LAYOUT}: "
                         "retrain it with `lma finetune` on runs recorded now")
    if given is not None:
        return given
    trained = record.get("history")
    return trained if isinstance(trained, int) and trained > 0 else DEFAULT_HISTORY


@dataclass(frozen=True)
class Turn:
    """One past step as the prompt shows it: what was observed, the call made, and its outcome."""

    observation: str
    call: ToolCall
    outcome: str

    @classmethod
    def of(cls, record: StepRecord, read: str | None = None) -> Turn:
        """The turn of a recorded step that made a call; ``read`` is what the planner read, when a
        perceiver made it more than the observation's text."""
        assert record.call is not None, "a step without a call is not a turn"
        outcome = record.error or record.result or "ok"
        return cls(read if read is not None else record.observation, record.call, outcome[:RESULT_CHARS])

    # Both are read at every later step of the episode, so each turn works them out once.
    @functools.cached_property
    def call_json(self) -> str:
        """:func:`call_text` of the call: the assistant message of this turn."""
        return call_text(self.call)

    @functools.cached_property
    def size(self) -> int:
        """The characters this turn adds to the prompt, roughly, as :func:`window_start` counts them."""
        return len(self.observation) + len(self.outcome) + 40  # 40: the call's JSON, roughly


@dataclass
class PlanInput:
    """Everything the planner may read for one step."""

    observation: str
    tools: list[Tool]
    goal: str = ""
    turns: list[Turn] = field(default_factory=list)
    memories: list[str] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)
    omitted: int = 0
    images: tuple[np.ndarray, ...] = ()
    ruled_out: list[ToolCall] = field(default_factory=list)  # calls not to make now; the prompt does not show them


def call_text(call: ToolCall) -> str:
    """A call as the planner writes it: the JSON the constrained decoder produces, and the target
    ``lma finetune`` trains on."""
    return json.dumps({"name": call.name, "args": call.args}, ensure_ascii=False)


def window_start(turns: Sequence[Turn], history: int, max_chars: int = HISTORY_CHARS) -> int:
    """The first past turn shown: all of them up to ``history`` turns, then the window drops
    ``history // 2`` turns at a time; while the shown turns exceed ``max_chars`` characters, it
    drops half of them."""
    if history <= 0:
        return len(turns)
    block = max(1, history // 2)
    start = 0 if len(turns) <= history else ((len(turns) - history - 1) // block + 1) * block
    sizes = [t.size for t in turns]
    while start < len(turns) and sum(sizes[start:]) > max_chars:
        start += max(1, (len(turns) - start) // 2)
    return start


def plan_input(observation: str, tools: Sequence[Tool], turns: Sequence[Turn], *, goal: str = "",
               history: int = DEFAULT_HISTORY, memories: Sequence[str] = (), scratch: Sequence[str] = (),
               images: tuple = (), max_repeats: int = 0) -> PlanInput:
    """The planner's input for one step, given every past turn of the episode (see :func:`window_start`).

    With ``max_repeats`` > 0, a call already made that many times at this very observation in the
    episode is ruled out (:func:`repeated_calls`)."""
    start = window_start(turns, history)
    ruled_out = repeated_calls(observation, turns, max_repeats, tools) if max_repeats > 0 else []
    return PlanInput(observation, list(tools), goal, list(turns[start:]), list(memories), list(scratch),
                     omitted=start, images=images, ruled_out=ruled_out)


def repeated_calls(observation: str, turns: Sequence[Turn], limit: int, tools: Sequence[Tool] = ()) -> list[ToolCall]:
    """The calls made at least ``limit`` times at ``observation`` in ``turns``: a planner that meets
    the same observation again and again and answers it the same way is in a loop that its own
    answer keeps up (a greedy decoder gives the same answer to the same state), so ruling those
    calls out makes it take its next-best choice there. Only the observation is matched, not the
    history, and only exact repeats count, so an agent that is making progress is not touched.

    Never every call: when each of ``tools`` is a call without arguments that was made there
    ``limit`` times or more, only the least-made ones stay open (the model's order among them)."""
    counts: dict[str, tuple[ToolCall, int]] = {}
    for turn in turns:
        if turn.observation == observation:
            call, seen = counts.get(turn.call_json, (turn.call, 0))
            counts[turn.call_json] = (call, seen + 1)
    closed_set = bool(tools) and not any(t.takes_arguments for t in tools)
    least = min(counts.get(call_text(ToolCall(t.name)), (None, 0))[1] for t in tools) if closed_set else 0
    return [call for call, seen in counts.values() if seen >= max(limit, least + 1)]


def render(given: PlanInput, system_prompt: str = SYSTEM_PROMPT) -> list[Message]:
    """The chat messages of one step, laid out as the module docstring shows."""
    tools = "\n".join(f"- {t.signature()}: {t.description}" for t in given.tools)
    opening = [f"Goal: {given.goal}"] if given.goal else []
    if given.omitted:
        opening.append(f"({given.omitted} earlier steps not shown)")
    messages: list[Message] = [{"role": "system", "content": f"{system_prompt}\n\nTools:\n{tools}"}]
    outcome = None
    for turn in given.turns:
        messages.append({"role": "user", "content": _user_text(opening, outcome, turn.observation)})
        messages.append({"role": "assistant", "content": turn.call_json})
        opening, outcome = [], turn.outcome
    extras = []
    if given.memories:
        extras.append("Relevant memories:\n" + "\n".join(f"- {m}" for m in given.memories))
    if given.scratch:
        extras.append("\n".join(given.scratch))
    messages.append({"role": "user", "content": _user_text(opening + extras, outcome, given.observation)})
    return messages


def _user_text(before: list[str], outcome: str | None, observation: str) -> str:
    parts = list(before)
    if outcome is not None:
        parts.append(f"Result: {outcome}")
    parts.append(observation)
    return "\n\n".join(parts)
