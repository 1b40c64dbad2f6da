"""How much lma's agent loop adds over the env itself.

Runs the same action sequence on a BabyAI level four ways, interleaved, and prints steps/s:

* ``raw``: a plain Gymnasium loop over ``BabyAI-<level>-v0`` (no frames);
* ``raw+frame``: the same, also rendering the RGB frame each step;
* ``lma, frames off``: ``run_episode`` with an ``LLMAgent`` over the ``scripted`` model replaying
  the actions: the planner (prompt, JSON parsing, schema validation), the text observation, the
  env call on the episode's worker thread and the trajectory written to disk, no PNG frames (so
  the lazy frame is never rendered);
* ``lma, frames on``: the same, recording a PNG frame of every step.

The two ratios compare like with like: ``lma frames off / raw`` and ``lma frames on / raw+frame``
are the shares of the env's own speed that survive the runtime. Each loop also reports the CPU
time it used per step (all threads of the process): on a machine shared with other jobs, the
wall-clock speed measures the neighbours too, while the CPU time measures the work. Its ratio is
written the same way round (base CPU / lma CPU: 1.0 means no overhead). ``--profile`` prints
cProfile's top functions of the frames-off lma loop instead.

    python benchmarks/loop_overhead.py [--level GoToRedBall] [--episodes 30] [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import minigrid

from lma.agents import LLMAgent
from lma.core import Task
from lma.envs.game.babyai import ACTIONS
from lma.run.recording import RunDir
from lma.run.runner import run_episode

NAMES = list(ACTIONS)
CYCLE = ["forward", "forward", "turn_left", "forward", "turn_right", "forward", "pickup", "toggle"]


@dataclass
class Speed:
    """Steps done, the wall seconds and the CPU seconds (all threads of this process) they took."""

    steps: int
    wall: float
    cpu: float

    @property
    def per_second(self) -> float:
        return self.steps / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.steps * 1e6


def timed(loop: Callable[[], int]) -> Speed:
    wall, cpu = time.perf_counter(), time.process_time()
    steps = loop()
    return Speed(steps, time.perf_counter() - wall, time.process_time() - cpu)


def raw_loop(level: str, episodes: int, steps: int, frames: bool) -> Speed:
    gym.register_envs(minigrid)
    env = gym.make(f"BabyAI-{level}-v0", render_mode="rgb_array" if frames else None, max_steps=10_000)

    def loop() -> int:
        done_steps = 0
        for seed in range(episodes):
            env.reset(seed=seed)
            for i in range(steps):
                _, _, terminated, truncated, _ = env.step(NAMES.index(CYCLE[i % len(CYCLE)]))
                if frames:
                    env.render()
                done_steps += 1
                if terminated or truncated:
                    break
        return done_steps

    speed = timed(loop)
    env.close()
    return speed


def lma_loop(level: str, episodes: int, steps: int, frames: bool, folder: Path,
             step_timeout: float | None = 60.0) -> Speed:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "script.jsonl"
    script.write_text("\n".join(json.dumps({"name": n, "args": {}}) for n in CYCLE) + "\n")
    agent = LLMAgent(f"scripted:{script}", name="scripted")
    run = RunDir.create(folder, "bench", {})

    def loop() -> int:
        done_steps = 0
        for seed in range(episodes):
            task = Task(f"babyai/{level}-v0", seed, max_steps=steps, env_kwargs={"max_steps": 10_000})
            result = run_episode(agent, task, recorder=run.episode(f"e{seed}", record_frames=frames),
                                 step_timeout=step_timeout)
            assert result.error is None, result.error
            done_steps += result.steps
        return done_steps

    return timed(loop)


def profile(level: str, episodes: int, steps: int) -> None:
    """cProfile of the frames-off lma loop; without a step time limit, so that the episode runs
    on this thread, where the profiler sees it (the loop is otherwise the same)."""
    import cProfile
    import pstats

    with tempfile.TemporaryDirectory() as tmp:
        lma_loop(level, 1, steps, False, Path(tmp) / "warm-up", None)  # imports, registry discovery: once
        profiler = cProfile.Profile()
        profiler.runcall(lma_loop, level, episodes, steps, False, Path(tmp), None)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--level", default="GoToRedBall")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--steps", type=int, default=64, help="step limit per episode")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; the best of each is kept")
    parser.add_argument("--profile", action="store_true", help="profile the lma loop (frames off) instead")
    args = parser.parse_args()
    if args.profile:
        return profile(args.level, args.episodes, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        lma_loop(args.level, 1, args.steps, True, Path(tmp))  # warm-up: imports, registry discovery, tile cache
    runs: dict[str, list[Speed]] = {name: [] for name in ("raw", "raw+frame", "lma", "lma+frame")}
    for _ in range(args.repeats):  # interleaved, so a busy machine slows all four alike
        for frames in (False, True):
            runs["raw+frame" if frames else "raw"].append(raw_loop(args.level, args.episodes, args.steps, frames))
            with tempfile.TemporaryDirectory() as tmp:
                speed = lma_loop(args.level, args.episodes, args.steps, frames, Path(tmp))
            runs["lma+frame" if frames else "lma"].append(speed)
    best = {name: max(speeds, key=lambda s: s.per_second) for name, speeds in runs.items()}
    cpu = {name: min(s.cpu_us for s in speeds) for name, speeds in runs.items()}
    print(f"level {args.level}, {args.episodes} episodes x {args.steps} steps, best of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} CPUs")
    labels = {"raw": "raw gymnasium", "raw+frame": "raw gymnasium + frame",
              "lma": "lma run, frames off (scripted)", "lma+frame": "lma run, frames on (PNG saved)"}
    print(f"{'':33}{'steps/s':>9}  {'CPU us/step':>11}")
    for name, label in labels.items():
        print(f"{label:33}{best[name].per_second:9.0f}  {cpu[name]:11.0f}")
    for ours, base in (("lma", "raw"), ("lma+frame", "raw+frame")):
        label = f"ratio {ours} / {base}"
        print(f"{label:33}{best[ours].per_second / best[base].per_second:9.2f}  {cpu[base] / cpu[ours]:11.2f}")


if __name__ == "__main__":
    main()
