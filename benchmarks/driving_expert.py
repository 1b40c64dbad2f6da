"""Crash rate and speed of agent ``expert-driver`` over N seeds per driving scenario, next to idling.

    python benchmarks/driving_expert.py [--seeds 50] [--first-seed 0] [--scenarios highway-fast-v0,merge-v1,...]

Every episode runs through ``lma.run.runner.run_episode`` exactly as ``lma run`` does (the runner's
default limit of 64 steps; each scenario ends earlier on its own), with frames off (``render=False``:
the policies read only the scene). The baseline ``idle`` keeps its lane and cruise set-point
whatever happens. Prints a Markdown table: episodes, crashes, crash rate, mean speed (distance over
time, m/s), distance (m), lane changes and steps per episode, success (no crash by the end).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from lma.agents.base import Agent
from lma.agents.baselines import ExpertDriver
from lma.core import Task, ToolCall
from lma.envs.driving import SCENARIOS
from lma.run.runner import run_episode


class Idle(Agent):
    """The idle-only baseline (scripted)."""

    name = "idle"

    def act(self, obs):
        return ToolCall("idle")


def evaluate(agent: Agent, scenario: str, seeds: range) -> dict:
    results = [run_episode(agent, Task(f"driving/{scenario}", s, env_kwargs={"render": False})) for s in seeds]
    errors = [r.error for r in results if r.error]
    if errors:
        raise SystemExit(f"{scenario}: {len(errors)} episodes failed, e.g. {errors[0]}")
    m = [r.metrics for r in results]
    crashes = sum(x["crashed"] for x in m)
    return {
        "episodes": len(results),
        "crashes": crashes,
        "crash rate": f"{crashes / len(results):.0%}",
        "mean speed (m/s)": f"{statistics.mean(x['mean_speed'] for x in m):.1f}",
        "distance (m)": f"{statistics.mean(x['distance_m'] for x in m):.0f}",
        "lane changes": f"{statistics.mean(x['lane_changes'] for x in m):.1f}",
        "steps": f"{statistics.mean(x['steps'] for x in m):.1f}",
        "success": f"{sum(r.success for r in results) / len(results):.0%}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    columns = ["scenario", "policy", "episodes", "crashes", "crash rate", "mean speed (m/s)", "distance (m)",
               "lane changes", "steps", "success"]
    print(f"seeds {seeds.start}-{seeds.stop - 1}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    started = time.perf_counter()
    for scenario in args.scenarios.split(","):
        for agent in (ExpertDriver(), Idle()):
            row = {"scenario": scenario, "policy": agent.name, **evaluate(agent, scenario, seeds)}
            print("| " + " | ".join(str(row[c]) for c in columns) + " |", flush=True)
    print(f"{time.perf_counter() - started:.0f} s; load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
