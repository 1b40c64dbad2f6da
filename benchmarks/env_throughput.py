"""Env throughput: steps/s of each env with its scripted/expert policy, raw simulator vs lma.

    python benchmarks/env_throughput.py [--steps 300] [--envs driving/merge-v1,game/crafter-v0,...]

For each env the policy first plays seeded episodes (seeds 0, 1, ..., at most 64 steps each) until
about ``--steps`` steps; that pass times only the policy and warms every cache. Then three timed
passes over the same seeds, resets included:

* **raw**: the underlying simulator (highway-env, Crafter, MiniGrid, ALE) replaying the policy's
  actions, drawing the frame where the lma observation carries one: the floor lma cannot beat;
* **lma env**: the lma env replaying the same tool calls (validation, scene and text, frame);
* **agent loop**: ``run_episode`` with the policy as the agent and no recorder (env built per episode,
  policy, runner), which is ``lma run --no-frames`` without the results file.

**policy** is milliseconds per decision (the driving scene, with every neighbour's predicted path,
is computed by the env, so it counts under "lma env").

Policies (all scripted, none learned): ``expert-driver`` on the meta-action scenarios, a
goal-seeking proportional controller on parking, Crafter's scripted heuristic, BabyAI's bot, and a
fixed fire/right/left cycle on Pong.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import lma
from lma.agents import ExpertAgent
from lma.agents.base import Agent
from lma.agents.baselines import ExpertDriver
from lma.core import Decision, Task, ToolCall
from lma.envs.driving import SCENARIOS
from lma.run.runner import run_episode

MAX_STEPS = 64


class GoalSeeker(Agent):
    """Parking: steer toward the goal spot, slowing as it nears (a scripted controller, not a parker)."""

    name = "goal-seeker"

    def act(self, obs: Any) -> Decision:
        d = obs["data"]
        bearing = math.degrees(math.atan2(d["goal_right"], d["goal_ahead"]))
        target = min(3.0, d["distance"] / 3)
        return Decision(ToolCall("drive", {"acceleration": float(np.clip(2 * (target - d["speed"]), -5, 5)),
                                           "steering": float(np.clip(bearing, -45, 45))}))


class PongCycle(Agent):
    """Pong: fire, then five steps right and five left, over and over (scripted)."""

    name = "pong-cycle"

    def reset(self, task: Task, env: gym.Env) -> None:
        super().reset(task, env)
        self.t = 0

    def act(self, obs: Any) -> Decision:
        self.t += 1
        return Decision(ToolCall("fire" if self.t == 1 else ("right" if (self.t // 5) % 2 else "left")))


def raw_gym(gym_id: str, render: bool) -> Callable[[int], tuple[Any, Callable[[Any], bool]]]:
    """Episodes of a Gymnasium env (built on first use), stepped directly, rendering if asked."""
    made: list[gym.Env] = []

    def start(seed: int):
        if not made:
            import ale_py
            import highway_env  # noqa: F401
            import minigrid

            gym.register_envs(ale_py)
            gym.register_envs(minigrid)
            made.append(gym.make(gym_id, render_mode="rgb_array"))
        inner = made[0]
        inner.reset(seed=seed)

        def step(action: Any) -> bool:
            _, _, terminated, truncated, _ = inner.step(action)
            if render:
                inner.render()
            return terminated or truncated

        return inner, step

    return start


def raw_crafter(seed: int):
    import crafter

    game = crafter.Env(seed=seed, size=(256, 256))
    game.reset()
    return game, lambda action: game.step(action)[2]


def to_raw(env: Any, call: ToolCall) -> Any:
    """The simulator's own action for a tool call of the lma env."""
    u = env.unwrapped
    if hasattr(u, "_action"):  # driving envs
        return u._action(call)
    return u._names.index(call.name)


def play(env_id: str, make_agent: Callable[[], Agent], steps: int) -> tuple[list[tuple[int, list[ToolCall]]], float]:
    """The policy's episodes (seed, calls) up to about ``steps`` steps, and its seconds per decision.

    This pass is untimed for the env: it also warms every cache (frames, tiles, imports) before
    the timed passes, which then replay the same calls on the same seeds.
    """
    agent, env = make_agent(), lma.make(env_id)
    episodes: list[tuple[int, list[ToolCall]]] = []
    policy_seconds, done_steps, seed = 0.0, 0, 0
    while done_steps < steps:
        obs, _ = env.reset(seed=seed)
        agent.reset(Task(env_id, seed), env)
        calls = []
        for _ in range(MAX_STEPS):
            t0 = time.perf_counter()
            decision = agent.act(obs)
            policy_seconds += time.perf_counter() - t0
            calls.append(decision.call if isinstance(decision, Decision) else decision)
            obs, _, terminated, truncated, _ = env.step(calls[-1])
            done_steps += 1
            if terminated or truncated:
                break
        episodes.append((seed, calls))
        seed += 1
    env.close()
    return episodes, policy_seconds / done_steps


def measure(env_id: str, make_agent: Callable[[], Agent], raw: Callable[[int], Any], steps: int) -> dict[str, Any]:
    episodes, policy_seconds = play(env_id, make_agent, steps)
    total = sum(len(calls) for _, calls in episodes)

    env = lma.make(env_id)
    raw_actions = [(seed, [to_raw(env, call) for call in calls]) for seed, calls in episodes]
    t0 = time.perf_counter()
    for seed, calls in episodes:
        env.reset(seed=seed)
        for call in calls:
            env.step(call)
    env_seconds = time.perf_counter() - t0
    env.close()

    raw(0)  # builds the simulator, untimed (the lma env above was built untimed too)
    t0 = time.perf_counter()
    for seed, actions in raw_actions:
        _, step = raw(seed)
        for action in actions:
            step(action)
    raw_seconds = time.perf_counter() - t0

    loop_steps, t0 = 0, time.perf_counter()
    for seed, _ in episodes:
        loop_steps += run_episode(make_agent(), Task(env_id, seed, max_steps=MAX_STEPS)).steps
    loop_seconds = time.perf_counter() - t0
    return {
        "env": env_id,
        "policy": make_agent().name,
        "steps": total,
        "raw steps/s": total / raw_seconds,
        "lma env steps/s": total / env_seconds,
        "policy ms/step": 1000 * policy_seconds,
        "agent loop steps/s": loop_steps / loop_seconds,
    }


def cases() -> dict[str, tuple[Callable[[], Agent], Callable[[int], Any]]]:
    table: dict[str, tuple[Callable[[], Agent], Callable[[int], Any]]] = {
        f"driving/{name}": (ExpertDriver, raw_gym(gym_id, render=True)) for name, (gym_id, _) in SCENARIOS.items()
    }
    table["driving/parking-v0"] = (GoalSeeker, raw_gym("parking-v0", render=True))
    table["game/crafter-v0"] = (ExpertAgent, raw_crafter)
    table["babyai/GoToRedBall-v0"] = (ExpertAgent, raw_gym("BabyAI-GoToRedBall-v0", render=True))
    table["ALE/Pong-v5"] = (PongCycle, raw_gym("ALE/Pong-v5", render=False))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--envs", help="comma-separated env ids (default: all)")
    args = parser.parse_args()
    table = cases()
    chosen = args.envs.split(",") if args.envs else list(table)
    columns = ["env", "policy", "steps", "raw steps/s", "lma env steps/s", "policy ms/step", "agent loop steps/s"]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for env_id in chosen:
        make_agent, raw = table[env_id]
        row = measure(env_id, make_agent, raw, args.steps)
        cells = [f"{row[c]:,.1f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        print("| " + " | ".join(cells) + " |", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
