"""How much lma's agent loop adds over the env itself.

Runs the same action sequence on a BabyAI level three ways and prints steps/s:

* ``raw``: a plain Gymnasium loop over ``BabyAI-<level>-v0`` (no frames);
* ``raw+frame``: the same, also rendering the RGB frame each step (what an lma observation holds);
* ``lma``: ``run_episode`` with an ``LLMAgent`` over the ``scripted`` model replaying the actions,
  with the planner (prompt, JSON parsing, schema validation), recording of the trajectory
  (without PNG frames: ``--frames`` adds them) and the text observation.

The ratio ``lma / raw+frame`` is the share of the env's own speed that survives the runtime.

    python benchmarks/loop_overhead.py [--level GoToRedBall] [--episodes 30] [--frames]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
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


def raw_loop(level: str, episodes: int, steps: int, frames: bool) -> float:
    gym.register_envs(minigrid)
    env = gym.make(f"BabyAI-{level}-v0", render_mode="rgb_array" if frames else None, max_steps=10_000)
    start, done_steps = time.perf_counter(), 0
    for seed in range(episodes):
        env.reset(seed=seed)
        for i in range(steps):
            _, _, terminated, truncated, _ = env.step(NAMES.index(CYCLE[i % len(CYCLE)]))
            if frames:
                env.render()
            done_steps += 1
            if terminated or truncated:
                break
    env.close()
    return done_steps / (time.perf_counter() - start)


def lma_loop(level: str, episodes: int, steps: int, frames: bool, folder: Path) -> float:
    script = folder / "script.jsonl"
    script.write_text("\n".join(json.dumps({"name": n, "args": {}}) for n in CYCLE) + "\n")
    agent = LLMAgent(f"scripted:{script}", name="scripted")
    run = RunDir.create(folder, "bench", {})
    start, done_steps = time.perf_counter(), 0
    for seed in range(episodes):
        task = Task(f"babyai/{level}-v0", seed, max_steps=steps, env_kwargs={"max_steps": 10_000})
        result = run_episode(agent, task, recorder=run.episode(f"e{seed}", record_frames=frames))
        assert result.error is None, result.error
        done_steps += result.steps
    return done_steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--level", default="GoToRedBall")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--steps", type=int, default=64, help="step limit per episode")
    parser.add_argument("--frames", action="store_true", help="also save PNG frames in the lma loop")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; the best of each is kept")
    args = parser.parse_args()
    raw = raw_frame = ours = 0.0
    for _ in range(args.repeats):  # interleaved, so a busy machine slows all three alike
        raw = max(raw, raw_loop(args.level, args.episodes, args.steps, frames=False))
        raw_frame = max(raw_frame, raw_loop(args.level, args.episodes, args.steps, frames=True))
        with tempfile.TemporaryDirectory() as tmp:
            ours = max(ours, lma_loop(args.level, args.episodes, args.steps, args.frames, Path(tmp)))
    print(f"level {args.level}, {args.episodes} episodes x {args.steps} steps, best of {args.repeats}")
    print(f"raw gymnasium          {raw:9.0f} steps/s")
    print(f"raw gymnasium + frame  {raw_frame:9.0f} steps/s")
    print(f"lma run (scripted)     {ours:9.0f} steps/s{'  (saving PNG frames)' if args.frames else ''}")
    print(f"ratio lma / raw+frame  {ours / raw_frame:9.2f}")
    print(f"ratio lma / raw        {ours / raw:9.2f}")


if __name__ == "__main__":
    main()
