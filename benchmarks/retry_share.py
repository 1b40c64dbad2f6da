"""The share of planner steps that needed a retry: llama-cpp-python's schema grammar vs lma's.

The embedded model (SmolLM2-135M through llama.cpp) plans the same steps twice in one process,
on the same weights:

* ``before``: decoded as lma did until issue 17, with ``response_format={"type": "json_object",
  "schema": ...}``, whose converter ignores integer bounds and lets strings run on;
* ``after``: decoded with lma's own grammar (:mod:`lma.models.json_grammar`), as lma runs now.

Workloads: BabyAI ``babyai/GoToObj-v0`` and BALROG's ``babyai/balrog-goto-v0`` (tools without
arguments: both should be near zero), and a toolset whose arguments are bounded integers, enums,
length-bounded strings and a pattern, asked for with tasks that tempt the model out of bounds
(volume 11 of 10, 7 stars of 5). A step "needed a retry" when at least one of its tries failed
validation (:attr:`lma.planning.planner.Plan.rejected`); a step "failed" when all three did. Greedy
decoding (the planner's temperature 0), so a rerun gives the same numbers.

    nice -n 10 python benchmarks/retry_share.py [--seeds 2] [--steps 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from typing import Any

from lma.agents.llm import LLMAgent
from lma.core import Task, Usage
from lma.models import load_model
from lma.models.base import ChatModel, Completion, parse_json
from lma.planning.planner import Planner
from lma.planning.prompt import plan_input
from lma.run.runner import run_episode
from lma.tools.base import Tool


class ResponseFormat(ChatModel):
    """The same llama.cpp weights, decoded with llama-cpp-python's own schema converter (before)."""

    def __init__(self, model: Any):
        self.model, self.name = model, f"{model.name} (response_format)"

    def complete(self, messages, *, images=(), schema=None, max_tokens=256, temperature=0.0) -> Completion:
        start = time.perf_counter()
        kwargs = {"response_format": {"type": "json_object", "schema": schema}} if schema is not None else {}
        with self.model._lock:
            out = self.model.llm.create_chat_completion(messages=messages, max_tokens=max_tokens,
                                                        temperature=temperature, **kwargs)
        text, usage = out["choices"][0]["message"]["content"] or "", out.get("usage", {})
        return Completion(text, parse_json(text) if schema is not None else None,
                          Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), time.perf_counter() - start))


class Declared(Tool):
    """A tool that only declares its schema: the benchmark plans calls, nothing runs them."""

    def __init__(self, name: str, description: str, properties: dict[str, Any]):
        self.name, self.description = name, description
        self.parameters = {"type": "object", "properties": properties, "required": list(properties),
                           "additionalProperties": False}


TOOLS = [
    Declared("set_volume", "Set the speaker volume (0 is silent, 10 is the loudest).",
             {"level": {"type": "integer", "minimum": 0, "maximum": 10}}),
    Declared("rate", "Rate the film from 1 to 5 stars and tag it with a colour.",
             {"stars": {"type": "integer", "minimum": 1, "maximum": 5}, "colour": {"enum": ["red", "green", "blue"]}}),
    Declared("move", "Walk a few steps in a compass direction.",
             {"direction": {"enum": ["north", "south", "east", "west"]}, "steps": {"type": "integer", "minimum": 1, "maximum": 3}}),
    Declared("search", "Search the catalogue with a short query.", {"query": {"type": "string", "maxLength": 24}}),
    Declared("set_code", "Set the door code: three capital letters, a dash, two digits.",
             {"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}}),
]
TASKS = [
    "The music is too quiet. Turn the volume up to 11.",
    "Make it as loud as it goes: volume 100.",
    "You loved the film: give it 7 stars out of 5, tagged purple.",
    "Rate the film 0 stars, it was awful; tag it black.",
    "Walk 10 steps north-east.",
    "Go 5 steps up the hill to the north.",
    "Search for every film with a long title about dragons and castles in the mountains at night.",
    "Set the door code to ab-1234.",
    "Set the door code to the year 2026.",
    "Turn the volume down to minus 3.",
]


def toolset(planner: Planner) -> list[list[dict[str, str]]]:
    """The rejected tries of each toolset task."""
    return [planner.plan(plan_input(f"Task: {task}", TOOLS, [], goal=task)).rejected for task in TASKS]


def babyai(model: ChatModel, env: str, seeds: int, steps: int) -> list[list[dict[str, str]]]:
    """The rejected tries of each planner step of a Type I agent on ``env``."""
    agent, out = LLMAgent(model, name="type1"), []
    for seed in range(seeds):
        run_episode(agent, Task(env, seed, max_steps=steps))
        out += [r.trace.get("rejected", []) for r in agent.steps]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    after = load_model(f"llamacpp:smollm2-135m?n_threads={args.threads}")
    variants = {"before": ResponseFormat(after), "after": after}
    for workload in ("babyai/GoToObj-v0", "babyai/balrog-goto-v0", "bounded toolset"):
        for label, model in variants.items():
            start = time.perf_counter()
            steps = (toolset(Planner(model)) if workload == "bounded toolset"
                     else babyai(model, workload, args.seeds, args.steps))
            seconds = time.perf_counter() - start
            retried = sum(bool(r) for r in steps)
            failed = sum(len(r) == 3 for r in steps)
            reasons = Counter(x["reason"].split(":")[0][:40] for r in steps for x in r)
            print(f"{workload:24} {label:7} steps {len(steps):3}  needed a retry {retried:3} ({retried / max(len(steps), 1):4.0%})"
                  f"  failed {failed:2}  {seconds:6.1f}s  {dict(reasons.most_common(2))}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
