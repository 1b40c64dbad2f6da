"""Throughput of ``lma eval``: episodes/min for N scripted-agent BabyAI episodes.

Measures, on the same jobs (agent ``expert``, BabyAI's scripted bot, over N seeds):

* in-process: ``run_episode`` in a loop, no workers (the floor of the machinery's overhead);
* ``--backend local`` with 1 and 2 worker processes, frames recorded and not;
* ``--backend ray`` with 2 workers on a local Ray (only inside scripts/netns-run).

Each configuration is timed twice: end to end (pool start-up included, as a user waits for it)
and steady state (after one warm-up episode per worker). "Busy" is the share of the steady-state
wall time the workers spent inside episodes: near 100% means the scheduler keeps them fed, so
what is left to scale with is free CPU. Prints a Markdown table and the load average, since the
machine may be shared.

    scripts/netns-run .venv/bin/python benchmarks/eval_scaling.py [--episodes 200] [--env babyai/GoToLocal-v0]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path


def in_private_netns() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


class Quiet:
    """A stand-in for the progress bar: the benchmark prints its own table."""

    def update(self, result) -> None:
        pass


def measure(root: Path, env: str, episodes: int, workers: int, backend: str,
            frames: bool) -> tuple[float, float, float]:
    """(end-to-end episodes/min, steady-state episodes/min, workers' busy share) for one configuration."""
    from lma.run.evaluate import make_jobs, resolve, schedule
    from lma.run.recording import RunDir, new_run_id
    from lma.run.workers import LocalPool, RayPool

    config = resolve({"agents": ["expert"], "envs": [env], "episodes": episodes + workers, "seed": 1000,
                      "record_frames": frames, "workers": workers})
    run = RunDir.create(root, new_run_id(f"{backend}-{workers}-{frames}"), config)
    jobs = make_jobs(config, {})
    warmup, timed = jobs[:workers], jobs[workers:]
    start = time.perf_counter()
    pool = RayPool(workers, run, []) if backend == "ray" else LocalPool(workers, run, [])
    try:
        schedule(run, warmup, pool, Quiet())
        steady = time.perf_counter()
        schedule(run, timed, pool, Quiet())
        end = time.perf_counter()
    finally:
        pool.close()
    results = run.results()
    assert len(results) == len(jobs) and all(r.error is None for r in results)
    timed_ids = {j.episode_id for j in timed}
    busy = sum(r.seconds for r in results if r.episode_id in timed_ids) / ((end - steady) * workers)
    return 60 * len(jobs) / (end - start), 60 * len(timed) / (end - steady), busy


def in_process(root: Path, env: str, episodes: int, frames: bool) -> float:
    from lma.agents import make_agent
    from lma.core import Task
    from lma.run.recording import RunDir
    from lma.run.runner import run_episode

    run, agent = RunDir.create(root, "inproc", {}), make_agent("expert")
    start = time.perf_counter()
    for seed in range(1000, 1000 + episodes):
        run.add_result(run_episode(agent, Task(env, seed), recorder=run.episode(f"e{seed}", frames)))
    return 60 * episodes / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--env", default="babyai/GoToLocal-v0")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"load average before: {os.getloadavg()}", file=sys.stderr)
        for frames in (True, False):
            rows.append((f"in-process loop, frames {'on' if frames else 'off'}", None,
                         in_process(root, args.env, args.episodes, frames), None))
        for workers in (1, 2):
            for frames in (True, False):
                rows.append((f"local, {workers} worker{'s' if workers > 1 else ''}, frames {'on' if frames else 'off'}",
                             *measure(root, args.env, args.episodes, workers, "local", frames)))
        if in_private_netns():
            rows.append(("ray (local), 2 workers, frames on", *measure(root, args.env, args.episodes, 2, "ray", True)))
        else:
            print("skipping Ray: run this inside scripts/netns-run", file=sys.stderr)
        print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    print(f"{args.episodes} expert episodes of {args.env}, {os.cpu_count()} CPUs\n")
    print("| configuration | end to end (ep/min) | steady state (ep/min) | workers busy |\n|---|---|---|---|")
    for name, e2e, steady, busy in rows:
        print(f"| {name} | {'-' if e2e is None else f'{e2e:,.0f}'} | {steady:,.0f} | "
              f"{'-' if busy is None else f'{busy:.0%}'} |")


if __name__ == "__main__":
    main()
