"""More games: Crafter described in words with its achievements as metrics (real Crafter), and ALE
Pong played from its frames alone through the automatic Gymnasium wrapper (real ale-py ROM)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lma
from lma.agents import ExpertAgent
from lma.core import Task, ToolCall
from lma.run.runner import run_episode

SMALL = {"size": 64}  # frames are not what these tests look at


def _nearest(text: str, kind: str) -> tuple[int, int] | None:
    """(east, south) of the nearest ``kind`` from the "You see" line, or None."""
    seen = text.split("You see: ")[1].split("\n")[0]
    for item in seen.split("; "):
        if item.split(" ")[0] == kind:
            east = south = 0
            for n, word in re.findall(r"(\d+) steps? (north|south|east|west)", item):
                n = int(n)
                east += {"east": n, "west": -n}.get(word, 0)
                south += {"south": n, "north": -n}.get(word, 0)
            return east, south
    return None


def test_crafter_text_tools_and_frame():
    crafter = pytest.importorskip("crafter")
    env = lma.make("game/crafter-v0")
    obs, _ = env.reset(seed=0)
    assert [t.name for t in env.unwrapped.tools] == list(crafter.constants.actions)  # all 17, by name
    assert "You see: " in obs["text"] and "You face: " in obs["text"]
    assert "Status: health 9/9, food 9/9, drink 9/9, energy 9/9." in obs["text"]
    assert "Inventory: empty." in obs["text"] and "Achievements so far: none." in obs["text"]
    image = obs["image"]
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8 and image.std() > 10
    env.close()


def test_crafter_positions_are_relative_to_the_agent():
    pytest.importorskip("crafter")
    env = lma.make("game/crafter-v0", **SMALL)
    obs, _ = env.reset(seed=0)
    world = env.unwrapped.game._world
    checked = 0
    for action in ["noop", "move_right", "move_right", "move_down", "move_left", "move_up"]:
        obs, *_ = env.step(ToolCall(action))
        x, y = env.unwrapped.game._player.pos
        assert obs["data"]["position"] == [x, y]
        for kind in ("tree", "stone", "water", "sand", "path"):
            where = _nearest(obs["text"], kind)
            if where is None:
                continue
            east, south = where
            assert world[(x + east, y + south)][0] == kind  # the text points at a real cell of that kind
            distance = abs(east) + abs(south)
            for dx in range(-4, 5):  # and none of that kind is nearer in the 9 x 7 view
                for dy in range(-3, 4):
                    if abs(dx) + abs(dy) < distance:
                        assert world[(x + dx, y + dy)][0] != kind
            checked += 1
    assert checked >= 6
    env.close()


def test_crafter_scripted_policy_unlocks_achievements_as_metrics():
    pytest.importorskip("crafter")
    results = [run_episode(ExpertAgent(), Task("game/crafter-v0", seed, max_steps=250, env_kwargs=SMALL))
               for seed in (0, 1)]
    for result in results:
        assert result.error is None
        metrics = result.metrics
        assert {"collect_wood", "place_table", "make_wood_pickaxe"} <= set(metrics["achievements"])
        assert metrics["achievements_count"] == len(metrics["achievements"]) >= 4
        assert metrics["progression"] == pytest.approx(metrics["achievements_count"] / 22, abs=1e-4)


def test_crafter_same_seed_same_episode():
    pytest.importorskip("crafter")
    runs = [run_episode(ExpertAgent(), Task("game/crafter-v0", 3, max_steps=80, env_kwargs=SMALL)) for _ in range(2)]
    assert runs[0].metrics == runs[1].metrics and runs[0].return_ == runs[1].return_


def test_pong_through_the_automatic_wrapper_from_frames_alone():
    ale_py = pytest.importorskip("ale_py", reason="ale-py (extra 'games') is not installed")
    try:
        env = lma.make("ALE/Pong-v5")
    except Exception as exc:  # ale-py without its bundled ROMs
        pytest.skip(f"ALE/Pong-v5 could not be made with ale-py {ale_py.__version__}: {exc}")
    names = [t.name for t in env.unwrapped.tools]
    assert {"noop", "fire", "right", "left"} <= set(names)
    obs, _ = env.reset(seed=0)
    assert obs["text"] == "Observation: an image of shape (210, 160, 3)"  # nothing but the frame
    frames = [obs["image"]]
    for name in ["noop", "fire"] + ["right"] * 10 + ["left"] * 10:
        obs, reward, terminated, truncated, _ = env.step(ToolCall(name))
        frames.append(obs["image"])
        assert not terminated
    assert all(f.shape == (210, 160, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[2], frames[12]) and not np.array_equal(frames[12], frames[-1])
    env.close()
