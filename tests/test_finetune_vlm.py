"""`lma finetune` of vision-language planners: tiny random LLaVA and Idefics3 built here, BabyAI
expert episodes recorded with their frames (no download)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")

from lma.agents import ExpertAgent, make_agent  # noqa: E402
from lma.cli import main  # noqa: E402
from lma.core import Task  # noqa: E402
from lma.run.recording import RunDir, episode_id  # noqa: E402
from lma.run.runner import run_episode  # noqa: E402
from lma.train.vlm import collect_frame_examples, encode, load_vlm_base  # noqa: E402

ENV = "babyai/GoToObj-v0"


def record(folder: Path, frames: bool) -> Path:
    agent = ExpertAgent()
    run = RunDir.create(folder / "runs", "expert", {"agent": agent.config(), "env": ENV})
    for seed in (0, 1):
        recorder = run.episode(episode_id(agent.name, ENV, seed), record_frames=frames)
        run.add_result(run_episode(agent, Task(ENV, seed), recorder=recorder))
    return run.path


@pytest.fixture(scope="module")
def framed_run(tmp_path_factory):
    return record(tmp_path_factory.mktemp("framed"), frames=True)


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    from lma.models.tiny import tiny_llava

    return tiny_llava(tmp_path_factory.mktemp("llava") / "model")


def test_each_step_is_its_frame_and_prompt_with_labels_on_the_call_only(framed_run, llava):
    examples = collect_frame_examples([framed_run], 4)
    steps = sum(len(RunDir.open(framed_run).trajectory(r.episode_id)) for r in RunDir.open(framed_run).results())
    assert len(examples) == steps and all(e.image.is_file() for e in examples)
    _, processor = load_vlm_base(str(llava))
    row = encode(examples[3], processor, 8192)
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    ids, labels = row["input_ids"].tolist(), row["labels"].tolist()
    assert image_id in ids and "pixel_values" in row
    labelled = [t for t, label in zip(ids, labels) if label != -100]
    assert image_id not in labelled
    assert processor.tokenizer.decode(labelled).startswith(examples[3].target)


def test_lora_planner_trains_and_plays_from_frames_in_the_transformers_backend(framed_run, llava, tmp_path, capsys):
    adapter, out = tmp_path / "adapter", tmp_path / "vlm-planner"
    assert main(["finetune", "--from", str(framed_run), "--base", f"transformers:{llava}", "--out", str(adapter),
                 "--lora", "--adapter-only", "--max-steps", "2", "--batch-size", "2"]) == 0
    assert main(["finetune", "--merge", str(adapter), "--out", str(out)]) == 0
    info = json.loads((out / "lma-finetune.json").read_text())
    assert info["vision"] and info["figures"]["steps"] == 2
    agent = make_agent("type2", model=f"transformers:{out}")
    assert agent.model.supports_images
    result = run_episode(agent, Task(ENV, 7, max_steps=3))
    assert result.error is None and result.steps == 3  # every call valid, each step shown its frame


def test_idefics3_full_training_with_a_frozen_vision_tower(framed_run, tmp_path):
    import torch
    from safetensors.torch import load_file

    from lma.models.tiny import tiny_idefics3

    base = tiny_idefics3(tmp_path / "idefics3")
    out = tmp_path / "trained"
    assert main(["finetune", "--from", str(framed_run), "--base", str(base), "--out", str(out),
                 "--freeze-vision", "--max-steps", "3", "--batch-size", "2", "--lr", "1e-2"]) == 0
    before, after = load_file(base / "model.safetensors"), load_file(out / "model.safetensors")
    vision = [k for k in before if "vision_model" in k]
    trained = [k for k in before if "connector" in k]
    assert vision and trained
    assert all(torch.equal(before[k], after[k]) for k in vision)
    assert any(not torch.equal(before[k], after[k]) for k in trained)


def test_bad_vision_inputs_fail_in_one_line_without_output(tmp_path, framed_run, llava, capsys):
    import shutil

    plain = record(tmp_path, frames=False)
    out = tmp_path / "out"
    assert main(["finetune", "--from", str(plain), "--base", str(llava), "--out", str(out), "--lora"]) == 2
    assert "without a recorded frame" in capsys.readouterr().err and not out.exists()
    assert main(["finetune", "--from", str(framed_run), "--base", str(llava), "--save-data",
                 str(tmp_path / "x.jsonl"), "--out", str(out)]) == 2
    assert "trains from run folders" in capsys.readouterr().err
    broken = tmp_path / "no-template"
    shutil.copytree(llava, broken)
    (broken / "chat_template.jinja").unlink()
    for name in ("tokenizer_config.json", "processor_config.json"):
        settings = json.loads((broken / name).read_text())
        settings.pop("chat_template", None)
        (broken / name).write_text(json.dumps(settings))
    assert main(["finetune", "--from", str(framed_run), "--base", str(broken), "--out", str(out), "--lora"]) == 2
    assert "chat template" in capsys.readouterr().err and not out.exists()
