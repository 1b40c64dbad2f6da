"""A tile reader made here: `lma finetune --tiles` trains a new vision tower (tiny, in the test) to
name what each tile of a BALROG BabyAI frame shows, and the `tiles:` perceiver writes the view's
sentences from what it read, as the env writes them; bad requests are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lma

pytest.importorskip("transformers")

from lma.agents import make_agent  # noqa: E402
from lma.cli import main  # noqa: E402
from lma.core import Task  # noqa: E402
from lma.errors import LmaError  # noqa: E402
from lma.perception.base import make_perceiver  # noqa: E402
from lma.run.recording import RunDir  # noqa: E402
from lma.run.runner import run_episode  # noqa: E402
from test_captioner import expert_run  # noqa: E402  (BabyAI's bot's runs, recorded without frames)

ENV = "babyai/balrog-putnext-v0"
FRAME_ONLY = {"text": "goal"}
TINY = ["--new-vision", "56/8/128/2"]  # one patch per BabyAI tile


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return expert_run(tmp_path_factory.mktemp("runs"), ENV, (0, 1, 2), FRAME_ONLY)


def test_the_tiles_say_what_each_patch_of_the_frame_shows():
    """``data["tiles"]`` is the view row by row as the frame draws it: the wall the text puts one
    step left is the tile left of the agent's, and tiles out of sight are drawn darker than floor;
    the env's scene is the sentences the tiles give."""
    from lma.perception.tiles import view_of

    env = lma.make("babyai/balrog-goto-v0")
    obs, _ = env.reset(seed=3)
    tiles, frame = np.array(obs["data"]["tiles"]), np.asarray(obs["image"])
    assert tiles.shape == (7, 7, 3) and "a wall 1 step left" in obs["text"]
    assert tiles[6, 2, 0] == 2 and tiles[6, 3, 0] == 1  # MiniGrid: 2 wall, 1 empty (the agent's own cell)
    brightness = frame.reshape(7, 16, 7, 16, 3).mean(axis=(1, 3, 4))
    assert brightness[tiles[..., 0] == 0].max() < brightness[tiles[..., 0] == 1].min()
    for seed in range(5):
        obs, _ = lma.make(ENV).reset(seed=seed)
        assert view_of(np.array(obs["data"]["tiles"])) == obs["data"]["scene"]


def test_a_reader_learns_its_frames_and_the_tiles_perceiver_writes_the_envs_sentences(run, tmp_path, capsys,
                                                                                     scripted_model):
    out = tmp_path / "reader"
    assert main(["finetune", "--from", str(run), "--tiles", *TINY, "--out", str(out), "--epochs", "80",
                 "--batch-size", "8", "--lr", "3e-3"]) == 0
    assert f"--perceiver tiles:{out}" in capsys.readouterr().out
    info = json.loads((out / "lma-finetune.json").read_text())
    assert info["task"] == "tiles" and info["figures"]["frames"] == sum(r.steps for r in RunDir.open(run).results())

    tiles = make_perceiver(f"tiles:{out}")
    env = lma.make(ENV, **FRAME_ONLY)
    full = lma.make(ENV)
    read = []
    for seed in (0, 1, 2):  # the training episodes' first frames: the reader has learnt them
        obs, _ = env.reset(seed=seed)
        percept = tiles.perceive(obs)
        read.append(percept.text == full.reset(seed=seed)[0]["text"])  # as the env's full text reads
        assert percept.data["scene"] == view_of_reader(tiles, obs)
    assert sum(read) >= 2
    blank = tiles.perceive({**obs, "image": np.zeros_like(np.asarray(obs["image"]))})
    assert blank.data["scene"] != obs["data"]["scene"]  # it reads the frame, nothing else

    agent = make_agent("type1", model=scripted_model([{"name": "turn_left", "args": {}}] * 2),
                       perceiver=f"tiles:{out}")
    result = run_episode(agent, Task(ENV, 7, max_steps=2, env_kwargs=FRAME_ONLY))
    assert result.error is None and result.steps == 2


def view_of_reader(perceiver, obs) -> str:
    from lma.perception.tiles import view_of

    return view_of(perceiver.reader.read(obs["image"]))


def test_bad_tile_reader_requests_fail_in_one_line_without_output(run, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["finetune", "--from", str(run), "--out", str(out), "--tiles"]
    no_tiles = expert_run(tmp_path / "no-tiles", "babyai/GoToObj-v0", (0,), {})
    cases = [
        ([], "give its shape with --new-vision"),
        ([*TINY, "--lora"], "drop --lora"),
        ([*TINY, "--caption"], "trains a tile reader alone"),
        ([*TINY, "--from", str(no_tiles)], "data['tiles']"),
        (["--new-vision", "56/14/128/2"], "4x4 patches, the env's tiles are 7x7"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and not out.exists()
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "tile-reader.json").write_text("{")
    for folder in (tmp_path / "missing", tmp_path / "torn"):
        with pytest.raises(LmaError, match="is not a tile reader saved by `lma finetune --tiles`"):
            make_perceiver(f"tiles:{folder}")
