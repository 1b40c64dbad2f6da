"""Web env speed: one agent step on MiniWoB++ without the model, and scripted episodes per minute.

A step is ``env.step(call)`` as the runner calls it: the browser action, the page's reward read,
and the next observation (set-of-marks walk of the page + PNG screenshot + text). The calls come
from the scripted solvers, so the model's time is excluded. Figures:

* step latency (median, p95) over all steps of ``--episodes`` episodes of each task, by action;
* ``reset`` latency (page load + seeded start + first observation);
* scripted episodes per minute with one browser reused by the env (``session=`` shared), and
  with the runner's default of a fresh env and browser per episode (``run_episode``).

Prints a Markdown table and the load average (the machine is shared; a loaded machine is slower).

    .venv/bin/python benchmarks/web_step_latency.py [--episodes 20] [--runner-episodes 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

TASKS = ["click-test", "click-test-2", "click-button", "click-link", "enter-text", "enter-password",
         "login-user", "focus-text", "click-checkboxes", "choose-list"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):.1f} ms | {1000 * percentile(values, 0.95):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=20, help="episodes per task with the shared browser")
    parser.add_argument("--runner-episodes", type=int, default=5, help="episodes through run_episode")
    args = parser.parse_args()

    import lma
    from lma.agents import ExpertAgent
    from lma.core import Task
    from lma.run.runner import run_episode
    from lma.tools.browser import BrowserSession

    load_before = os.getloadavg()
    steps: dict[str, list[float]] = {}
    resets: list[float] = []
    successes = episodes = 0
    with BrowserSession(allow=()) as session:
        env = lma.make(f"miniwob/{TASKS[0]}-v0", session=session)
        env.reset(seed=10_000)  # warm-up: browser start and first page load
        started = time.perf_counter()
        for task in TASKS:
            env.unwrapped.set_task(task)
            for seed in range(args.episodes):
                t0 = time.perf_counter()
                env.reset(seed=seed)
                resets.append(time.perf_counter() - t0)
                for _ in range(12):
                    call = env.unwrapped.expert_action()
                    t0 = time.perf_counter()
                    _, _, terminated, truncated, info = env.step(call)
                    steps.setdefault(call.name, []).append(time.perf_counter() - t0)
                    if terminated or truncated:
                        break
                episodes += 1
                successes += bool(info.get("success"))
        shared_rate = 60 * episodes / (time.perf_counter() - started)
        env.close()

    started = time.perf_counter()
    runner = [run_episode(ExpertAgent(), Task("miniwob/click-button-v0", seed)) for seed in range(args.runner_episodes)]
    runner_rate = 60 * len(runner) / (time.perf_counter() - started)
    load_after = os.getloadavg()

    every = [s for values in steps.values() for s in values]
    print(f"MiniWoB++ scripted solvers on {len(TASKS)} tasks x {args.episodes} seeds: "
          f"{successes}/{episodes} successes, {len(every)} steps")
    print("\n| what | median | p95 |\n|---|---|---|")
    print(f"| one step (action + reward read + observation), all actions | {ms(every)} |")
    for name, values in sorted(steps.items()):
        print(f"| one `{name}` step ({len(values)} steps) | {ms(values)} |")
    print(f"| `reset` (page load + seeded start + observation) | {ms(resets)} |")
    print("\n| scripted episodes per minute | |\n|---|---|")
    print(f"| one env, one browser reused ({episodes} episodes, 10 tasks) | {shared_rate:.0f} |")
    print(f"| `run_episode`: fresh env and browser per episode (click-button, {len(runner)} episodes, "
          f"{sum(r.success for r in runner)} successes) | {runner_rate:.0f} |")
    print(f"\nload average (1 min) before: {load_before[0]:.1f}, after: {load_after[0]:.1f}; "
          f"CPU cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
