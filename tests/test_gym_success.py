"""Wrapped Gymnasium envs: success is what the env declares, else a rule, else unknown (never a guess);
actions of well-known envs have their names and the goal is said in words. Real Gymnasium envs throughout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import pytest

import lma
from lma.agents.base import Agent
from lma.core import Observation, Task, ToolCall
from lma.envs.gym_wrapper import GymnasiumToolEnv
from lma.errors import LmaError
from lma.run.runner import run_episode


class ScriptedAgent(Agent):
    """A scripted policy over the observation (no model): ``policy(env, obs) -> tool name``."""

    name = "scripted"

    def __init__(self, policy: Callable[[Any, Observation], str]):
        self.policy = policy

    def reset(self, task, env) -> None:
        self.env = env.unwrapped

    def act(self, obs: Observation) -> ToolCall:
        return ToolCall(self.policy(self.env, obs))


def balance(env, obs) -> str:
    """Push the cart toward where the pole leans (a classic hand-written CartPole controller)."""
    _, _, angle, velocity = env.inner.unwrapped.state
    return "push_right" if angle + 0.5 * velocity > 0 else "push_left"


def test_a_dropped_pole_is_a_failure_and_surviving_to_the_time_limit_a_success():
    dropped = run_episode(ScriptedAgent(lambda env, obs: "push_right"), Task("CartPole-v1", seed=0))
    assert dropped.error is None and dropped.steps < 30 and dropped.success is False
    survived = run_episode(ScriptedAgent(balance), Task("CartPole-v1", seed=0, env_kwargs={"max_episode_steps": 40}))
    assert survived.error is None and survived.steps == 40 and survived.success is True


def test_the_env_s_own_step_limit_is_the_episode_s_default():
    env = lma.make("CartPole-v1")
    assert env.unwrapped.max_episode_steps == 500
    env.close()


def test_frozen_lake_has_named_moves_a_goal_in_words_and_a_rule():
    env = lma.make("FrozenLake-v1", is_slippery=False)
    assert [t.name for t in env.unwrapped.tools] == ["left", "down", "right", "up"]
    obs, _ = env.reset(seed=0)
    goal = obs["data"]["goal"]
    assert obs["text"].startswith("Goal: ") and "hole" in goal and "SFFF" in goal
    for move in ["down", "down", "right", "right", "down"]:
        _, _, terminated, _, info = env.step(ToolCall(move))
        assert not terminated and "success" not in info
    _, reward, terminated, _, info = env.step(ToolCall("right"))
    assert terminated and reward == 1.0 and info["success"] is True
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(ToolCall("right"))
    _, _, terminated, _, info = env.step(ToolCall("down"))  # (1, 1) is a hole
    assert terminated and info["success"] is False
    env.close()


@pytest.mark.parametrize(("env_id", "names"), [
    ("Taxi-v4", ["south", "north", "east", "west", "pickup", "dropoff"]),
    ("CliffWalking-v1", ["up", "right", "down", "left"]),
    ("Blackjack-v1", ["stick", "hit"]),
    ("MountainCar-v0", ["push_left", "no_push", "push_right"]),
    ("CartPole-v1", ["push_left", "push_right"]),
    ("Acrobot-v1", ["torque_negative", "no_torque", "torque_positive"]),
    ("ALE/Pong-v5", ["noop", "fire", "right", "left", "rightfire", "leftfire"]),  # get_action_meanings()
])  # fmt: skip
def test_known_envs_have_named_actions_and_a_goal(env_id, names):
    env = lma.make(env_id)
    assert [t.name for t in env.unwrapped.tools] == names
    obs, _ = env.reset(seed=0)
    if not env_id.startswith("ALE/"):
        assert len(obs["data"]["goal"]) > 20 and obs["text"].startswith("Goal: ")
    obs, *_ = env.step(ToolCall(names[-1]))
    env.close()


def test_lunar_lander_names_when_box2d_is_installed():
    pytest.importorskip("Box2D")
    env = lma.make("LunarLander-v3")
    assert [t.name for t in env.unwrapped.tools] == ["noop", "fire_left", "fire_main", "fire_right"]
    env.close()


def test_an_env_without_a_declaration_or_a_rule_is_unknown_not_a_failure():
    env = lma.make("Pendulum-v1", max_episode_steps=3)
    env.reset(seed=0)
    _, _, _, _, info = env.step(ToolCall("act", {"values": [0.0]}))
    assert info["success"] is None
    env.close()
    zero = _ValuesAgent([0.0])
    truncated = run_episode(zero, Task("Pendulum-v1", seed=0, env_kwargs={"max_episode_steps": 3}))
    cut = run_episode(zero, Task("Pendulum-v1", seed=0, max_steps=2))  # cut by lma's step cap
    assert truncated.error is None and truncated.success is None
    assert cut.error is None and cut.steps == 2 and cut.success is None
    again = lma.core.EpisodeResult.from_json(truncated.to_json())
    assert again.success is None  # results.jsonl keeps "unknown"


class _ValuesAgent(Agent):
    """A scripted constant continuous action."""

    name = "scripted"

    def __init__(self, values: list[float]):
        self.values = values

    def act(self, obs: Observation) -> ToolCall:
        return ToolCall("act", {"values": self.values})


def test_a_success_rule_given_for_the_env_decides():
    env = lma.make("Pendulum-v1", max_episode_steps=2, success="return>=-1000")
    env.reset(seed=0)
    env.step(ToolCall("act", {"values": [0.0]}))
    assert env.step(ToolCall("act", {"values": [0.0]}))[4]["success"] is True
    env = lma.make("CartPole-v1", success=lambda end: end.return_ >= 3)
    env.reset(seed=0)
    for _ in range(10):
        *_, terminated, _, info = env.step(ToolCall("push_right"))
        if terminated:
            break
    assert terminated and info["success"] is True
    with pytest.raises(LmaError, match="unknown success rule 'surviv'"):
        lma.make("CartPole-v1", success="surviv")


class DeclaringEnv(gym.Env):
    """A real two-step env that declares success as gymnasium-robotics does (``is_success``, a float)."""

    observation_space = gym.spaces.Discrete(3)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return 0, {}

    def step(self, action):
        self.t += 1
        return self.t, 0.0, False, self.t >= 2, {"is_success": float(action == 1)}


def test_what_the_env_declares_comes_before_any_rule():
    env = GymnasiumToolEnv(DeclaringEnv(), success="survive")
    env.reset(seed=0)
    env.step(ToolCall("action_0"))
    _, _, _, truncated, info = env.step(ToolCall("action_0"))
    assert truncated and info["success"] is False  # declared, though "survive" would say True
    env.reset(seed=0)
    env.step(ToolCall("action_1"))
    assert env.step(ToolCall("action_1"))[4]["success"] is True
