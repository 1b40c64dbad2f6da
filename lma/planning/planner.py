"""Planning: turn what the agent knows into one valid tool call.

The planner renders the step's prompt (:mod:`lma.planning.prompt`), asks the model for JSON
matching :func:`lma.tools.base.tool_call_schema` (constrained decoding where the backend supports
it), and validates the answer against the chosen tool's schema. An invalid answer is sent back to
the model with the reason, up to ``retries`` times; after that the step fails with a recorded
error instead of crashing the episode. Every rejected try is kept with its reason
(:attr:`Plan.rejected`): a backend without grammars (an OpenAI-compatible endpoint that ignores
``response_format``) or a schema keyword no grammar enforces (:mod:`lma.models.json_grammar`) is
covered by this check, and the trajectory and the episode page show each rejection. The messages
it sends are returned too: fine-tuning trains on exactly these prompts.

Calls ruled out for the step (:attr:`PlanInput.ruled_out`, a loop's repeats) are kept out without
changing the prompt: a ruled-out call of a tool without arguments is left out of the grammar, so the
model's next-best call is decoded; one with arguments is refused like an invalid answer while
tries remain, and taken on the last (a repeat is better than a failed step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lma.core import ToolCall, Usage
from lma.models.base import ChatModel, Message, parse_json
from lma.planning.prompt import SYSTEM_PROMPT, PlanInput, render
from lma.tools.base import Tool, tool_call_schema, validate_call


@dataclass
class Plan:
    """The planner's answer: a valid call, or ``error`` after the retries ran out.

    ``rejected`` holds one ``{"output", "reason"}`` per try that failed validation, in order; its
    length is the number of retries the step needed (the last one included when all failed).
    """

    call: ToolCall | None
    messages: list[Message]
    outputs: list[str]
    usage: Usage
    error: str | None = None
    rejected: list[dict[str, str]] = field(default_factory=list)


def coerce_call(value: Any) -> ToolCall | None:
    """Read a tool call from parsed JSON; accepts ``name``/``tool`` and ``args``/``arguments``."""
    if not isinstance(value, dict):
        return None
    name = value.get("name", value.get("tool"))
    args = value.get("args", value.get("arguments", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(name, str) or not isinstance(args, dict):
        return None
    return ToolCall(name, args)


def decodable_tools(given: PlanInput) -> list[Tool]:
    """The tools the step's grammar offers: all but those whose only call, without arguments, is
    ruled out (:func:`lma.planning.prompt.repeated_calls` never rules out all of them)."""
    closed = {c.name for c in given.ruled_out if not c.args}
    return [t for t in given.tools if t.takes_arguments or t.name not in closed]


class Planner:
    """Chooses tool calls with a :class:`ChatModel`; see the module docstring."""

    def __init__(self, model: ChatModel, *, system_prompt: str = SYSTEM_PROMPT, retries: int = 2,
                 max_tokens: int = 128, temperature: float = 0.0, constrained: bool = True):
        self.model, self.system_prompt, self.retries = model, system_prompt, retries
        self.max_tokens, self.temperature, self.constrained = max_tokens, temperature, constrained

    def messages(self, given: PlanInput) -> list[Message]:
        """The prompt for one step (:func:`lma.planning.prompt.render`); the same state gives the same prompt."""
        return render(given, self.system_prompt)

    def plan(self, given: PlanInput) -> Plan:
        messages = self.messages(given)
        schema = tool_call_schema(decodable_tools(given)) if self.constrained else None
        conversation, outputs, usage = list(messages), [], Usage()
        rejected: list[dict[str, str]] = []
        problem = "no answer"
        for attempt in range(self.retries + 1):
            completion = self.model.complete(  # a ModelError propagates: see the module docstring
                conversation,
                images=given.images,
                schema=schema,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
            usage = usage + completion.usage
            outputs.append(completion.text)
            parsed = completion.parsed if completion.parsed is not None else parse_json(completion.text)
            call = coerce_call(parsed)
            problem = validate_call(call, given.tools) if call else f"not a tool call: {completion.text[:120]!r}"
            if problem is None and call in given.ruled_out and attempt < self.retries:
                problem = f"{call} was made here before and led back here; make another call"
            if problem is None:
                return Plan(call, messages, outputs, usage, rejected=rejected)
            rejected.append({"output": completion.text, "reason": problem})
            conversation += [
                {"role": "assistant", "content": completion.text},
                {"role": "user", "content": f"That was not valid ({problem}). Answer with one valid tool call."},
            ]
        return Plan(None, messages, outputs, usage, error=f"invalid model output after {self.retries + 1} tries: {problem}",
                    rejected=rejected)

