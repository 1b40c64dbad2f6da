"""The fault soak: ``lma eval`` of >= 200 episodes with faults injected at random, then an audit.

Agents ``type1`` (planner: a flaky OpenAI-compatible endpoint on loopback whose policy is a seeded
rule) and ``random`` play BabyAI, a web shop in Chromium and WebQA, each behind a wrapper that
crashes or hangs past the step timeout at random steps; a killer thread SIGKILLs worker processes
and Chromium browsers at random; the whole ``lma eval`` is SIGKILLed once and resumed with
``lma eval --resume``. The faults and the audit live in ``tests/fault_injection.py`` and
``tests/fault_soak_kit.py`` (the test suite runs a short soak with them).

Prints a Markdown table (episodes, faults injected by kind, errors recorded by kind, lost,
duplicated, leftover processes, exit codes, wall time) and the load average, since the machine
may be shared; exits 1 when an invariant fails (an episode lost or duplicated, a process left, an
unexplained error, a wrong exit code).

    nice -n 10 scripts/netns-run .venv/bin/python benchmarks/fault_soak.py [--episodes 34] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fault_soak_kit import Plan, soak


def broken(figures: dict, plan: Plan) -> list[str]:
    """The invariants the soak checks, as the lines that failed."""
    problems = [f"{k}: {figures[k]}" for k in ("lost", "duplicated", "unexpected", "unreadable", "silent") if figures[k]]
    if figures["episodes"] != figures["results"]:
        problems.append(f"{figures['results']} results lines for {figures['episodes']} episodes")
    if figures["leftover"] or figures["left_after_kill"]:
        problems.append(f"processes left: {figures['leftover']} (after the kill: {figures['left_after_kill']})")
    if figures["exit_codes"] != [-9, 0]:
        problems.append(f"exit codes {figures['exit_codes']}, expected [-9, 0]")
    if figures["browsers_peak"] > plan.workers:
        problems.append(f"{figures['browsers_peak']} browsers alive at once with {plan.workers} workers")
    problems += [f"unexplained error: {e}" for e in figures["other_errors"]]
    return problems


def kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def table(figures: dict, plan: Plan) -> str:
    rows = [
        ("episodes (agents x envs x seeds)", f"{figures['episodes']} ({len(plan.agents)} x {len(plan.envs)} x {plan.episodes})"),
        ("results lines", figures["results"]),
        ("faults injected", f"{sum(figures['faults'].values())}: {kinds(figures['faults'])}"),
        ("errors recorded", f"{sum(figures['errors'].values())}: {kinds(figures['errors'])}"),
        ("succeeded", figures["succeeded"]),
        ("lost / duplicated / unreadable lines", f"{figures['lost']} / {figures['duplicated']} / {figures['unreadable']}"),
        ("env faults with no recorded error", figures["silent"]),
        ("processes left after the kill / at the end", f"{len(figures['left_after_kill'])} / {len(figures['leftover'])}"),
        ("most Chromium browsers alive at once", f"{figures['browsers_peak']} ({plan.workers} workers)"),
        ("exit codes (killed run, resume)", ", ".join(map(str, figures["exit_codes"]))),
        ("wall time", f"{figures['wall_s']:.0f} s"),
    ]
    return "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--episodes", type=int, default=Plan.episodes, help="seeds per agent and env")
    p.add_argument("--seed", type=int, default=0, help="first seed; also seeds every fault")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", help="folder for the run, logs and fault log (default: a temporary one)")
    args = p.parse_args()
    plan = Plan(episodes=args.episodes, seed=args.seed, workers=args.workers)
    out = Path(args.out or tempfile.mkdtemp(prefix="lma-fault-soak-"))
    figures = soak(plan, out)
    print(table(figures, plan))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average after the run {load}; run folder and fault log in {out}")
    problems = broken(figures, plan)
    for line in problems:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
