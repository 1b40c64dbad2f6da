"""Planner steps with and without prompt reuse: the embedded model on BabyAI, side by side.

The same Type I agent (SmolLM2-135M through llama.cpp) plays the same seeds twice in one process:

* ``cached``: as lma runs it: llama.cpp keeps the KV cache of the last request, and the prompt
  layout (lma.planning.prompt, layout 2) only appends within an episode, so each step evaluates
  only the tokens after the shared prefix;
* ``uncached``: the cache is emptied before every request, so every prompt token is evaluated,
  as with a prompt whose start changes every step (layout 1's sliding "Recent steps" list).

It prints, per mode, prompt tokens per step (all of them, and those evaluated: all minus
``Usage.tokens_cached``), seconds per planner step, and the ratios. The decisions are the same in
both modes (checked, and in tests/test_prompt.py).

    python benchmarks/prompt_reuse.py [--env babyai/GoToLocal-v0] [--episodes 3] [--steps 24] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os

from lma.agents import make_agent
from lma.core import StepRecord, Task
from lma.models import load_model
from lma.models.base import ChatModel
from lma.run.runner import run_episode


class Uncached(ChatModel):
    """The same llama.cpp model with its KV cache emptied before every request."""

    def __init__(self, model):
        self.model, self.name = model, f"{model.name} (uncached)"

    def complete(self, messages, **kwargs):
        self.model.llm.reset()
        return self.model.complete(messages, **kwargs)


def play(planner, env: str, seeds: list[int], steps: int) -> tuple[list[StepRecord], list[str]]:
    agent = make_agent("type1", model=planner)
    records: list[StepRecord] = []
    observe = agent.observe
    agent.observe = lambda record: (records.append(record), observe(record))  # type: ignore[method-assign]
    for seed in seeds:
        run_episode(agent, Task(env, seed, max_steps=steps))
    return records, [str(r.call) for r in records]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="babyai/GoToLocal-v0")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    model = load_model(f"llamacpp:smollm2-135m?n_threads={args.threads}")
    seeds = list(range(args.episodes))
    figures, calls = {}, {}
    for mode, planner in (("uncached", Uncached(model)), ("cached", model)):
        model.llm.reset()
        records, calls[mode] = play(planner, args.env, seeds, args.steps)
        n = len(records)
        prompt = sum(r.usage.tokens_in for r in records) / n
        evaluated = sum(r.usage.tokens_in - r.usage.tokens_cached for r in records) / n
        figures[mode] = {"steps": n, "prompt_tokens_per_step": round(prompt, 1),
                         "evaluated_tokens_per_step": round(evaluated, 1),
                         "seconds_per_step": round(sum(r.usage.latency for r in records) / n, 4)}
    u, c = figures["uncached"], figures["cached"]
    figures["ratios"] = {
        "fewer_tokens_evaluated": round(u["evaluated_tokens_per_step"] / max(c["evaluated_tokens_per_step"], 1e-9), 2),
        "faster_planner_steps": round(u["seconds_per_step"] / max(c["seconds_per_step"], 1e-9), 2),
        "same_decisions": calls["cached"] == calls["uncached"],
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps({"env": args.env, "episodes": args.episodes, "threads": args.threads, **figures}, indent=2))


if __name__ == "__main__":
    main()
