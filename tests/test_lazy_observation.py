"""Frames are rendered only when read: a real BabyAI env counts its renders through a whole episode.

The env's own ``render`` (MiniGrid's) is wrapped to count its calls; everything else is the real
loop: ``run_episode``, an ``LLMAgent`` over the scripted model (a text-only planner), the recorder.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from PIL import Image

import lma
from lma.agents import LLMAgent
from lma.core import Task, ToolCall
from lma.envs.observation import LazyObservation, release
from lma.errors import LmaError
from lma.run.recording import RunDir, read_jsonl
from lma.run.runner import run_episode

ENV = "babyai/GoToRedBall-v0"
CYCLE = [{"name": n, "args": {}} for n in ("forward", "turn_left", "forward", "turn_right", "pickup")]


def counted(env_id: str = ENV):
    """A real env whose MiniGrid renders (full grid and POV) are counted in ``env.renders``."""
    env = lma.make(env_id)
    level = env.unwrapped.inner.unwrapped
    env.renders = 0
    for name in ("render", "get_pov_render"):
        real = getattr(level, name)

        def counting(*args, _real=real, **kwargs):
            env.renders += 1
            return _real(*args, **kwargs)

        setattr(level, name, counting)
    env.unwrapped.inner.render = level.render  # the wrappers' render reaches the level's
    return env


def test_no_frame_is_rendered_when_nobody_reads_it(scripted_model, tmp_path):
    env = counted()
    run = RunDir.create(tmp_path, "r", {})
    agent = LLMAgent(scripted_model(CYCLE), name="text-only")
    result = run_episode(agent, Task(ENV, 0, max_steps=12), env=env, recorder=run.episode("e", record_frames=False))
    assert result.error is None and result.steps >= 5
    assert env.renders == 0
    steps = read_jsonl(run.path / "episodes" / "e" / "trajectory.jsonl")
    assert len(steps) == result.steps and all(s["frame"] is None for s in steps)
    assert not list((run.path / "episodes" / "e").glob("*.png"))


def test_a_frame_read_twice_is_rendered_once_and_is_the_env_frame():
    env = counted()
    obs, _ = env.reset(seed=3)
    assert env.renders == 0 and isinstance(obs, LazyObservation) and "image" in obs and len(obs) == 3
    first, second = obs["image"], obs.get("image")
    assert first is second and env.renders == 1
    assert env.render() is first and env.renders == 1  # render() is the last observation's frame
    eager = lma.make(ENV).unwrapped
    eager.reset(seed=3)
    assert np.array_equal(first, eager.inner.render())


def test_the_recorder_with_frames_gets_every_frame(scripted_model, tmp_path):
    env = counted()
    run = RunDir.create(tmp_path, "r", {})
    agent = LLMAgent(scripted_model(CYCLE), name="text-only")
    result = run_episode(agent, Task(ENV, 1, max_steps=6), env=env, recorder=run.episode("e", record_frames=True))
    assert result.error is None
    steps = read_jsonl(run.path / "episodes" / "e" / "trajectory.jsonl")
    assert [s["frame"] for s in steps] == [f"frame-{i:04d}.png" for i in range(result.steps)]
    assert env.renders == result.steps  # one per recorded step, none for the final unread observation
    replay = lma.make(ENV).unwrapped
    replay.reset(seed=1)
    saved = np.asarray(Image.open(run.path / "episodes" / "e" / "frame-0000.png"))
    assert np.array_equal(saved, replay.inner.render())


@pytest.mark.parametrize("env_id", [ENV, "babyai/balrog-goto-v0"])
def test_a_kept_observation_holds_its_own_frame_after_the_env_moved(env_id):
    env = counted(env_id)
    space = env.observation_space
    obs, _ = env.reset(seed=0)
    later, *_ = env.step(ToolCall(env.unwrapped.tools[0].name))  # a turn: the view changes
    assert env.renders == 1  # the reset frame was settled as the env moved
    env.step(ToolCall(env.unwrapped.tools[1].name))
    assert env.renders == 2
    assert space.contains(obs) and space.contains(later) and env.renders == 2
    assert np.array_equal(obs["image"], lma.make(env_id).reset(seed=0)[0]["image"])
    assert not np.array_equal(obs["image"], later["image"])


def test_a_released_frame_is_dropped_unread_and_says_so():
    env = counted()
    obs, _ = env.reset(seed=0)
    release(obs)
    assert obs["image"] is not None and env.renders == 1  # before the env moves it can still be read
    kept, *_ = env.step(ToolCall("forward"))
    release(kept)
    env.step(ToolCall("forward"))
    assert env.renders == 1
    with pytest.raises(LmaError, match="released unread"):
        kept["image"]
    assert kept["text"].startswith("Mission:")  # what was made eagerly is still there


def test_copies_and_merges_hold_arrays_not_placeholders():
    env = counted()
    obs, _ = env.reset(seed=0)
    for copied in ({**obs}, dict(obs), obs.copy(), copy.deepcopy(obs), pickle.loads(pickle.dumps(obs)),
                   dict(obs.items()), dict(zip(obs.keys(), obs.values()))):
        assert isinstance(copied["image"], np.ndarray) and copied["image"].shape == (256, 256, 3)
    assert type(copy.deepcopy(obs)) is LazyObservation and copy.deepcopy(obs)["image"] is not obs["image"]
    assert env.renders == 1
    assert repr(env.reset(seed=1)[0]).count("not made yet") == 1


def test_an_invalid_call_returns_a_copy_with_the_same_frame():
    env = counted()
    obs, _ = env.reset(seed=0)
    again, reward, *_, info = env.step(ToolCall("fly"))
    assert "unknown tool" in info["error"] and reward == 0.0
    assert again is not obs and again["image"] is not obs["image"]
    assert np.array_equal(again["image"], obs["image"]) and env.renders == 1


def test_a_frame_that_cannot_be_saved_is_the_episodes_error(scripted_model, tmp_path):
    run = RunDir.create(tmp_path, "r", {})
    recorder = run.episode("e", record_frames=True)
    (recorder.path / "frame-0001.png").mkdir()  # the second frame's file cannot be written
    agent = LLMAgent(scripted_model(CYCLE), name="text-only")
    result = run_episode(agent, Task(ENV, 0, max_steps=3), recorder=recorder)
    assert result.error.startswith("RunDirError: could not save a frame") and "frame-0001.png" in result.error
