"""BALROG's BabyAI protocol: the settings hold on many seeds, and the text is BabyAI-Text's."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import lma
from lma.agents import ExpertAgent
from lma.core import Task, ToolCall
from lma.envs.game import babyai_mix
from lma.envs.game.balrog import ACTIONS, TASKS, babyai_text_descriptions, balrog_observation
from lma.errors import LmaError
from lma.run.runner import run_episode

KINDS = TASKS[:-1]
STEP_LIMIT = {"goto": 64, "pickup": 64, "open": 128, "putnext": 128, "pick_up_seq_go_to": 128}


def level_of(env):
    return env.unwrapped.inner.unwrapped


def things(level) -> list:
    return [obj for obj in level.grid.grid if obj is not None and obj.type != "wall"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_task_keeps_balrogs_settings_over_100_seeds(kind):
    env = lma.make(f"babyai/balrog-{kind}-v0")
    locked_sides = set()
    for seed in range(100):
        obs, _ = env.reset(seed=seed)
        level = level_of(env)
        assert obs["data"]["kind"] == kind and obs["data"]["goal"] == level.mission
        assert level.max_steps == obs["data"]["max_steps"] == STEP_LIMIT[kind]
        objs = things(level)
        if kind == "open":
            assert (level.width, level.height) == (15, 8)
            door, key = sorted(objs, key=lambda o: o.type)
            assert door.type == "door" and door.is_locked and key.type == "key"
            assert key.color == door.color and door.color not in ("red", "grey")
            agent_room, key_room = level.room_from_pos(*level.agent_pos), level.room_from_pos(*key.cur_pos)
            assert agent_room is key_room  # the key lies in the agent's room, outside the locked one
            locked_sides.add(level.room_grid[0].index(agent_room))
        else:
            assert (level.width, level.height) == (8, 8)
            assert len(objs) == (2 if kind in ("putnext", "pick_up_seq_go_to") else 1)
            assert all(obj.type in ("key", "ball", "box") for obj in objs)
    if kind == "open":
        assert locked_sides == {0, 1}  # either room may be the locked one


def test_mix_draws_every_kind_and_no_held_out_mission_in_300_seeds():
    env = lma.make("babyai/balrog-mix-v0")
    kinds = collections.Counter()
    for seed in range(300):
        obs, _ = env.reset(seed=seed)
        kinds[obs["data"]["kind"]] += 1
        assert not [word for word in babyai_mix.HELD_OUT if word in obs["data"]["goal"]], obs["data"]["goal"]
        assert level_of(env).max_steps == STEP_LIMIT[obs["data"]["kind"]]
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= 30, kinds


@pytest.mark.parametrize("kind", ["pickup", "open"])
def test_step_limit_truncates_the_episode(kind):
    env = lma.make(f"babyai/balrog-{kind}-v0")
    env.reset(seed=5)
    for step in range(1, 200):
        _, reward, terminated, truncated, info = env.step(ToolCall("drop"))  # carrying nothing: a no-op
        if terminated or truncated:
            break
    assert (step, truncated, terminated, reward) == (STEP_LIMIT[kind], True, False, 0.0)


def test_observation_is_babyai_text_as_balrog_writes_it_on_a_known_state():
    from minigrid.core.world_object import Ball, Box, Door, Key

    env = lma.make("babyai/balrog-goto-v0")
    env.reset(seed=0)
    level = level_of(env)
    for x in range(1, 7):
        for y in range(1, 7):
            level.grid.set(x, y, None)
    level.agent_pos, level.agent_dir = (5, 5), 3  # facing up: forward is -y, right is +x
    level.carrying = Ball("green")
    for (x, y), obj in {(3, 5): Box("purple"), (5, 2): Ball("blue"), (6, 3): Key("red"),
                        (7, 2): Door("purple", is_open=True), (7, 4): Door("yellow", is_locked=True)}.items():
        level.grid.set(x, y, obj)
    assert babyai_text_descriptions(level)[:3] == [
        "You carry a green ball", "You see a wall 2 steps right", "You see a purple box 2 steps left",
    ]
    expected = [
        "You carry a green ball",
        "a wall 2 steps right",  # no wall ahead or left: the ball and the box are seen first
        "a purple box 2 steps left",
        "a blue ball 3 steps forward",
        "a red key 1 step right and 2 steps forward",
        "a open purple door 2 steps right and 3 steps forward",  # BabyAI-Text's own article
        "a locked yellow door 2 steps right and 1 step forward",
    ]
    assert balrog_observation(babyai_text_descriptions(level)) == "\n".join(expected)
    level.grid.set(5, 2, None)
    env.step(ToolCall("turn_right"))
    obs, *_ = env.step(ToolCall("turn_left"))
    assert obs["text"].split("\n") == [f"Your goal is to {level.mission}.", expected[0], "a wall 5 steps forward",
                                       *expected[1:3], *expected[4:]]
    assert obs["data"]["observation"] == "\n".join(obs["text"].split("\n")[1:])


def test_frame_is_the_pov_render_at_tile_16_and_tools_are_balrogs_six_actions():
    for kind in ("goto", "open"):
        env = lma.make(f"babyai/balrog-{kind}-v0")
        obs, _ = env.reset(seed=2)
        assert obs["image"].shape == (7 * 16, 7 * 16, 3) and obs["image"].dtype == np.uint8
        assert np.array_equal(obs["image"], level_of(env).get_pov_render(tile_size=16))
        assert env.unwrapped.observation_space.contains(obs)
        assert [(t.name, t.description) for t in env.unwrapped.tools] == list(ACTIONS.items())
    assert list(ACTIONS) == ["turn_left", "turn_right", "go_forward", "pick_up", "drop", "toggle"]


@pytest.mark.parametrize("task", TASKS)
def test_expert_solves_every_kind(task):
    env_id = f"babyai/balrog-{task}-v0"
    results = [run_episode(ExpertAgent(), Task(env_id, seed, max_steps=128)) for seed in range(2000, 2006)]
    assert [r.error for r in results] == [None] * 6
    assert all(r.success for r in results), [r.seed for r in results if not r.success]


def test_same_seed_same_episode_and_seeds_differ():
    def episode(seed: int) -> list:
        env = lma.make("babyai/balrog-mix-v0")
        obs, _ = env.reset(seed=seed)
        frames = [(obs["text"], obs["image"].tobytes())]
        for name in ["go_forward", "turn_left", "go_forward", "pick_up", "turn_right", "go_forward"]:
            obs, *_ = env.step(ToolCall(name))
            frames.append((obs["text"], obs["image"].tobytes()))
        return frames

    assert episode(11) == episode(11)
    assert len({episode(seed)[0][0] for seed in range(10)}) > 5


def test_ids_are_registered_and_a_bad_task_is_a_clear_error():
    assert [type(lma.make(f"babyai/balrog-{task}-v0").unwrapped).__name__ for task in TASKS] == ["BalrogEnv"] * 6
    assert TASKS == tuple(babyai_mix.BALROG_TASKS)
    with pytest.raises(LmaError, match="unknown BALROG BabyAI task 'jump'"):
        lma.make("babyai/balrog-goto-v0", task="jump")


class TurningInPlace(lma.agents.Agent):
    """A scripted policy that never gets anywhere: every episode runs to its step limit."""

    name = "turning"

    def act(self, obs):
        return ToolCall("turn_left")


@pytest.mark.parametrize("env_id", ["babyai/balrog-mix-v0", "babyai/MixedTrainLocal-v0"])
def test_an_episode_runs_to_the_limit_of_its_own_level(env_id):
    """The limit is set as each level is made (BALROG: 64 or 128 steps by mission kind): the runner
    must use it, not its default of 64 because a level made at reset has none before it, nor the
    first episode's."""
    env, limits = lma.make(env_id), []
    for seed in range(8):
        env.reset(seed=seed)
        limits.append(level_of(env).max_steps)
        result = run_episode(TurningInPlace(), Task(env_id, seed))
        assert result.error is None and result.steps == limits[-1], (seed, result.steps, limits[-1])
    env.close()
    assert max(limits) > 64, limits  # longer than the runner's default
