"""A scene captioner made here: `lma finetune --caption` trains a small VLM (new vision tower, new
language model over a tokenizer; tiny ones built in the test) to write the BALROG BabyAI envs'
own sentences for each frame, from replayed runs; the `scene:` perceiver feeds them to a text
planner; bad requests are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lma

pytest.importorskip("transformers")

from lma.agents import ExpertAgent, make_agent  # noqa: E402
from lma.cli import main  # noqa: E402
from lma.core import Task  # noqa: E402
from lma.perception.base import make_perceiver  # noqa: E402
from lma.run.recording import RunDir, episode_id  # noqa: E402
from lma.run.runner import run_episode  # noqa: E402

ENV = "babyai/balrog-goto-v0"
FRAME_ONLY = {"text": "goal"}
TINY = ["--new-vision", "56/8/128/2", "--new-language", "128/2"]  # one image token per BabyAI tile


def expert_run(folder: Path, env: str, seeds: tuple[int, ...], env_kwargs: dict) -> Path:
    """A run folder of BabyAI's bot (a scripted oracle), recorded without frames."""
    agent = ExpertAgent()
    run = RunDir.create(folder, "expert", {"agent": agent.config(), "env": env, "env_kwargs": env_kwargs})
    for seed in seeds:
        recorder = run.episode(episode_id(agent.name, env, seed), record_frames=False)
        run.add_result(run_episode(agent, Task(env, seed, env_kwargs=env_kwargs), recorder=recorder))
    return run.path


@pytest.fixture(scope="module")
def frame_only_run(tmp_path_factory) -> Path:
    return expert_run(tmp_path_factory.mktemp("frame-only") / "runs", ENV, (0, 1), FRAME_ONLY)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    from lma.models.tiny import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("lm") / "model", tie_word_embeddings=True)


def test_the_scene_is_the_views_sentences_without_the_carried_object_in_both_text_modes():
    for seed in range(4):
        full = lma.make(ENV).reset(seed=seed)[0]
        bare = lma.make(ENV, **FRAME_ONLY).reset(seed=seed)[0]
        assert full["data"]["scene"] == bare["data"]["scene"] == "\n".join(full["text"].splitlines()[1:])
    env = lma.make("babyai/balrog-pickup-v0")
    obs, _ = env.reset(seed=2)
    while "You carry" not in obs["text"]:
        obs, *_ = env.step(env.unwrapped.expert_action())
    assert "You carry" not in obs["data"]["scene"] and obs["data"]["scene"] in obs["text"]


def test_a_captioner_learns_the_scenes_of_its_frames_and_the_scene_perceiver_reads_them(frame_only_run, tiny_lm,
                                                                                        tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "captioner"
    assert main(["finetune", "--from", str(frame_only_run), "--base", f"transformers:{tiny_lm}", "--caption", *TINY,
                 "--out", str(out), "--epochs", "150", "--batch-size", "8", "--lr", "3e-3"]) == 0
    info = json.loads((out / "lma-finetune.json").read_text())
    assert info["task"] == "caption" and info["new_language"] == {"width": 128, "layers": 2}
    assert info["figures"]["examples"] == sum(r.steps for r in RunDir.open(frame_only_run).results())
    weights = load_file(out / "model.safetensors")
    assert weights["language_model.model.embed_tokens.weight"].shape[1] == 128
    assert not any("layers.2." in k and "language_model" in k for k in weights)  # two new blocks, not the base's

    scene = make_perceiver(f"scene:transformers:{out}")
    env = lma.make(ENV, **FRAME_ONLY)
    obs, _ = env.reset(seed=0)  # a training frame: the captioner has learnt its scene
    percept = scene.perceive(obs)
    assert percept.data["caption"] == obs["data"]["scene"]
    assert percept.text == f"{obs['text']}\n{obs['data']['scene']}"  # as the env's full text reads

    agent = make_agent("type1", model=f"transformers:{tiny_lm}", perceiver=f"scene:transformers:{out}")
    result = run_episode(agent, Task(ENV, 7, max_steps=2, env_kwargs=FRAME_ONLY))
    assert result.error is None and result.steps == 2


def test_bad_captioner_requests_fail_in_one_line_without_output(frame_only_run, tiny_lm, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["finetune", "--from", str(frame_only_run), "--base", f"transformers:{tiny_lm}", "--out", str(out)]
    no_scene = expert_run(tmp_path / "no-scene", "babyai/GoToObj-v0", (0,), {})
    cases = [
        (["--caption"], "does not see"),
        (["--caption", "--new-language", "64/1"], "goes with --new-vision"),
        (["--caption", *TINY, "--lora"], "trains in full"),
        (["--caption", "--new-vision", "32/8/64/1", "--new-language", "64"], "WIDTH/LAYERS"),
        (["--caption", "--new-vision", "32/8/64/1", "--new-language", "96/1"], "multiple of 64"),
        (["--caption", *TINY, "--from", str(no_scene)], "data['scene']"),
        (["--caption", "--pretrain-vision", "1"], "give --new-vision too"),
        (["--caption", *TINY, "--pretrain-vision", "-1"], "must be a number of epochs"),
        (["--caption", *TINY, "--pretrain-vision", "1", "--from", str(no_scene)], "data['tiles']"),
        (["--caption", "--new-vision", "56/14/128/2", "--new-language", "128/2", "--pretrain-vision", "1"],
         "4x4 patches, the env's tiles are 7x7"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and not out.exists()


def test_a_new_tower_learns_to_name_the_tiles_of_its_frames(frame_only_run, tiny_lm, tmp_path):
    """Pretraining on the env's tiles: held-out patches named far better than by the untrained
    tower, recorded with the model; the captioner then trains on from that tower."""
    from lma.train.assemble import LanguageSpec, VisionSpec, assemble_vlm, new_language_model
    from lma.train.tiles import collect_tile_examples, pretrain_tower
    from lma.train.trainer import load_base

    run = expert_run(tmp_path / "putnext", "babyai/balrog-putnext-v0", (0, 1, 2), FRAME_ONLY)
    examples = collect_tile_examples([run])
    assert len(examples) == sum(r.steps for r in RunDir.open(run).results()) >= 20  # a held-out twentieth

    def held_out_right(epochs: int) -> float:
        language_model, tokenizer = load_base(f"transformers:{tiny_lm}")
        model, processor = assemble_vlm(new_language_model(tokenizer, LanguageSpec(128, 2)), tokenizer,
                                        VisionSpec(56, 8, 128, 2))
        return pretrain_tower(model, processor, examples, epochs, batch_size=8)["held_out_patches_right"]

    untrained, trained = held_out_right(0), held_out_right(25)
    assert trained > 0.9 and trained > untrained + 0.3

    out = tmp_path / "captioner"
    assert main(["finetune", "--from", str(run), "--base", f"transformers:{tiny_lm}", "--caption", *TINY,
                 "--pretrain-vision", "2", "--out", str(out), "--max-steps", "1", "--batch-size", "8"]) == 0
    info = json.loads((out / "lma-finetune.json").read_text())
    assert info["pretrain_vision"]["epochs"] == 2 and info["pretrain_vision"]["frames"] == len(examples)
