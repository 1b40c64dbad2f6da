"""A vision-language planner made here: `lma finetune --new-vision` gives a text model a new
vision tower (tiny random Llama built in the test), trained on BALROG BabyAI frames with the
frame-only text, then played from frames; the blank-frame ablation perceiver."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lma

pytest.importorskip("peft")

from lma.agents import ExpertAgent, make_agent  # noqa: E402
from lma.cli import main  # noqa: E402
from lma.core import Task  # noqa: E402
from lma.errors import LmaError  # noqa: E402
from lma.perception.base import make_perceiver  # noqa: E402
from lma.run.recording import RunDir, episode_id  # noqa: E402
from lma.run.runner import run_episode  # noqa: E402
from lma.train.assemble import VisionSpec, assemble_vlm  # noqa: E402

ENV = "babyai/balrog-goto-v0"
FRAME_ONLY = {"text": "goal"}
TOWER = "32/8/64/1"  # 16 image tokens: tiny, so the test trains in seconds


@pytest.fixture(scope="module")
def framed_run(tmp_path_factory) -> Path:
    agent = ExpertAgent()
    run = RunDir.create(tmp_path_factory.mktemp("framed") / "runs", "expert",
                        {"agent": agent.config(), "env": ENV, "env_kwargs": FRAME_ONLY})
    for seed in (0, 1):
        recorder = run.episode(episode_id(agent.name, ENV, seed), record_frames=True)
        run.add_result(run_episode(agent, Task(ENV, seed, env_kwargs=FRAME_ONLY), recorder=recorder))
    return run.path


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    from lma.models.tiny import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("lm") / "model", tie_word_embeddings=True)


def carrying(kind: str, seed: int, **kwargs) -> dict:
    """The observation after BabyAI's bot has picked the object up (a scripted oracle policy)."""
    env = lma.make(f"babyai/balrog-{kind}-v0", **kwargs)
    env.reset(seed=seed)
    for _ in range(64):
        obs, _, done, _, _ = env.step(env.unwrapped.expert_action())
        if done or "You carry" in obs["text"]:
            return obs
    raise AssertionError("the bot never carried anything")


def test_frame_only_text_keeps_the_goal_and_the_carried_object_only():
    full, frame_only = lma.make(ENV), lma.make(ENV, **FRAME_ONLY)
    seen, bare = full.reset(seed=3)[0], frame_only.reset(seed=3)[0]
    assert bare["text"] == f"Your goal is to {bare['data']['goal']}."
    assert seen["text"].startswith(bare["text"]) and len(seen["text"].splitlines()) > 1
    assert np.array_equal(seen["image"], bare["image"])
    carried = carrying("pick_up_seq_go_to", 5, **FRAME_ONLY)
    assert carried["text"].splitlines()[1:] == [line for line in carrying("pick_up_seq_go_to", 5)["text"].splitlines()
                                                if line.startswith("You carry a ")]
    with pytest.raises(LmaError, match="text='nothing'"):
        lma.make(ENV, text="nothing")


def test_the_assembled_model_keeps_the_language_model_and_sees_one_token_per_patch(tiny_lm):
    import torch

    from lma.train.trainer import load_base

    lm, tokenizer = load_base(f"transformers:{tiny_lm}")
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    model, processor = assemble_vlm(lm, tokenizer, VisionSpec.parse(TOWER))
    inner = model.model.language_model.state_dict()
    vocab = before["embed_tokens.weight"].shape[0]
    assert all(torch.equal(inner[k][:vocab] if k == "embed_tokens.weight" else inner[k], v) for k, v in before.items())
    assert model.lm_head.weight is model.model.language_model.embed_tokens.weight  # tied as in the base
    frame = np.zeros((112, 112, 3), np.uint8)
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "go"}]}]
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    ids = processor(text=[text], images=[[frame]], return_tensors="pt")["input_ids"][0].tolist()
    assert ids.count(model.config.image_token_index) == (32 // 8) ** 2


def test_new_vision_trains_and_the_planner_plays_from_frames(framed_run, tiny_lm, tmp_path):
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "vlm-planner"
    assert main(["finetune", "--from", str(framed_run), "--base", f"transformers:{tiny_lm}", "--new-vision", TOWER,
                 "--out", str(out), "--lora", "--max-steps", "3", "--batch-size", "2", "--lr", "1e-2",
                 "--history", "2"]) == 0
    info = json.loads((out / "lma-finetune.json").read_text())
    assert info["vision"] and info["new_vision"] == {"image_size": 32, "patch": 8, "width": 64, "layers": 1}
    weights = load_file(out / "model.safetensors")
    assert any("vision_tower" in k for k in weights) and any("multi_modal_projector" in k for k in weights)
    assert not any("lora" in k for k in weights)  # merged
    base = load_file(tiny_lm / "model.safetensors")
    layer = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(base[layer], weights["language_model.model.layers.0.self_attn.q_proj.weight"])
    agent = make_agent("type2", model=f"transformers:{out}", history=2)
    assert agent.model.supports_images
    result = run_episode(agent, Task(ENV, 9, max_steps=3, env_kwargs=FRAME_ONLY))
    assert result.error is None and result.steps == 3  # every call valid, each from its frame


def test_bad_new_vision_requests_fail_in_one_line_without_output(framed_run, tiny_lm, tmp_path, capsys):
    from lma.models.tiny import tiny_llava

    out = tmp_path / "out"
    base = ["finetune", "--from", str(framed_run), "--out", str(out), "--lora"]
    cases = [
        (["--base", f"transformers:{tiny_lm}", "--new-vision", "112"], "SIZE/PATCH"),
        (["--base", f"transformers:{tiny_lm}", "--new-vision", "100/16"], "multiple of the patch"),
        (["--base", f"transformers:{tiny_lm}", "--new-vision", "32/8/50/1"], "multiple of 64"),
        (["--base", f"transformers:{tiny_lm}", "--new-vision", TOWER, "--freeze-vision"], "must learn"),
        (["--base", f"transformers:{tiny_lm}", "--new-vision", TOWER, "--adapter-only"], "saved whole"),
        (["--base", f"transformers:{tiny_llava(tmp_path / 'llava')}", "--new-vision", TOWER], "has a vision tower"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and not out.exists()


def test_blank_frame_shows_a_black_frame_of_the_same_size_to_a_model_that_sees():
    class Seeing:
        supports_images = True

    obs = lma.make(ENV).reset(seed=1)[0]
    percept = make_perceiver("blank-frame").perceive(obs, Seeing())
    assert percept.text == obs["text"]
    (image,) = percept.images
    assert image.shape == obs["image"].shape and not image.any() and obs["image"].any()
    assert make_perceiver("blank-frame").perceive(obs, object()).images == ()
