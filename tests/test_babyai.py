"""BabyAI through lma: the expert solves every listed level, and the text says what is there."""

from __future__ import annotations

import numpy as np
import pytest

import lma
from lma.agents import ExpertAgent, RandomAgent
from lma.core import Task, ToolCall
from lma.run.runner import run_episode

LEVELS = ["GoToRedBall", "GoToObj", "GoToLocal", "PickupLoc", "OpenDoor"]


@pytest.mark.parametrize("level", LEVELS)
def test_expert_solves_20_seeds(level):
    env_id = f"babyai/{level}-v0"
    results = [run_episode(ExpertAgent(), Task(env_id, seed)) for seed in range(100, 120)]
    assert [r.error for r in results] == [None] * 20
    assert all(r.success for r in results), [r.seed for r in results if not r.success]


def test_observation_describes_mission_view_and_frame():
    env = lma.make("babyai/GoToRedBall-v0")
    obs, _ = env.reset(seed=1)
    assert obs["text"].startswith("Mission: go to the red ball")
    assert "You see:" in obs["text"] and "You carry: nothing" in obs["text"]
    assert isinstance(obs["image"], np.ndarray) and obs["image"].dtype == np.uint8
    assert [t.name for t in env.unwrapped.tools] == [
        "turn_left", "turn_right", "forward", "pickup", "drop", "toggle", "done"
    ]
    before = obs["text"]
    obs, *_ = env.step(ToolCall("turn_left"))
    assert obs["text"] != before  # the view turned with the agent
    env.close()


def test_same_seed_same_episode():
    runs = [run_episode(RandomAgent(), Task("babyai/GoToObj-v0", 7, max_steps=30)) for _ in range(2)]
    assert runs[0].steps == runs[1].steps and runs[0].return_ == runs[1].return_


def test_random_agent_is_a_floor_not_zero():
    results = [run_episode(RandomAgent(), Task("babyai/GoToRedBall-v0", s, max_steps=64)) for s in range(30)]
    rate = sum(r.success for r in results) / len(results)
    assert 0.1 <= rate <= 0.8
