"""The BALROG BabyAI table of docs/results.md, from lma eval run folders (results, not timing).

    lma eval --config docs/examples/balrog.yaml --out runs/balrog                 # type2 + random, seeds 0-49
    lma eval --config docs/examples/balrog.yaml --agents type1 --episodes 10 --out runs/balrog-untuned
    python benchmarks/balrog_table.py runs/balrog/<run> runs/balrog-untuned/<run>

Per task and overall: each agent's success with its 95% Wilson interval, then the exact McNemar
test of the first agent against each other one on the (task, seed) pairs both played, beside
BALROG's published BabyAI figures (balrog-ai/experiments, 2025-07 snapshot: 50 episodes each).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from lma.core import EpisodeResult
from lma.report.stats import compare, wilson_interval
from lma.run.recording import RunDir

TASKS = ["goto", "pickup", "open", "putnext", "pick_up_seq_go_to"]
PUBLISHED = {"Claude-3.5-Sonnet (VLM)": 82.0, "Gemini-2.5-Pro": 80.0, "GPT-4o": 77.6, "Grok-4": 76.0,
             "Llama-3.1-8B": 36.0, "Llama-3.2-3B": 20.0, "Llama-3.2-1B": 8.0}


def task_of(env: str) -> str:
    return env.removeprefix("babyai/balrog-").removesuffix("-v0")


def cell(results: list[EpisodeResult]) -> str:
    known = [r for r in results if r.success is not None and not r.error]
    k, n = sum(bool(r.success) for r in known), len(known)
    if not n:
        return "-"
    low, high = wilson_interval(k, n)
    errors = len(results) - n
    return f"{k / n:.0%} ({k}/{n}) [{low:.0%}-{high:.0%}]" + (f", {errors} errors" if errors else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders of lma eval on babyai/balrog-* envs")
    args = parser.parse_args()
    results = [r for path in args.runs for r in RunDir.open(path).results()]
    by_agent: dict[str, list[EpisodeResult]] = defaultdict(list)
    for r in results:
        by_agent[r.agent].append(r)
    agents = list(by_agent)
    print("| agent | " + " | ".join(TASKS) + " | overall |")
    print("|---|" + "---|" * (len(TASKS) + 1))
    for agent in agents:
        cells = [cell([r for r in by_agent[agent] if task_of(r.env) == t]) for t in TASKS]
        print(f"| lma {agent} | " + " | ".join(cells) + f" | **{cell(by_agent[agent])}** |")
    for name, figure in PUBLISHED.items():
        print(f"| {name} (BALROG, published) | " + " | ".join("" for _ in TASKS) + f" | {figure:.1f}% |")
    print()
    first = agents[0]
    for other in agents[1:]:
        c = compare(results, first, other)
        print(f"{first} vs {other}: {c.pairs} paired episodes, {first} alone solved {c.a_only}, "
              f"{other} alone {c.b_only}; McNemar p = {c.p_value:.2g}")


if __name__ == "__main__":
    main()
