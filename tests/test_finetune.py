"""`lma finetune` on expert BabyAI episodes and a tiny random Llama built here (no download)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")

from lma.agents import ExpertAgent, make_agent  # noqa: E402
from lma.cli import main  # noqa: E402
from lma.core import Task  # noqa: E402
from lma.run.recording import RunDir, episode_id  # noqa: E402
from lma.registry import LmaError  # noqa: E402
from lma.run.runner import run_episode  # noqa: E402
from lma.train.data import TrainingDataError, collect_examples, target_text  # noqa: E402
from lma.train.trainer import FinetuneError, encode, load_base  # noqa: E402

ENV = "babyai/GoToObj-v0"


def record(tmp_path: Path, agent, seeds, name: str, max_steps: int | None = None) -> Path:
    """A run folder with ``agent``'s episodes, as `lma run` writes it."""
    run = RunDir.create(tmp_path / "runs", name, {"agent": agent.config(), "env": ENV})
    for seed in seeds:
        recorder = run.episode(episode_id(agent.name, ENV, seed), record_frames=False)
        run.add_result(run_episode(agent, Task(ENV, seed, max_steps=max_steps), recorder=recorder))
    return run.path


@pytest.fixture(scope="module")
def expert_run(tmp_path_factory):
    return record(tmp_path_factory.mktemp("expert"), ExpertAgent(), [0, 1, 2], "expert")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from lma.models.tiny import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("tiny") / "llama")


def test_rebuilt_prompts_are_the_prompts_the_agent_sends(expert_run, tmp_path, scripted_model):
    examples, episodes = collect_examples([expert_run], history_size=4)
    assert episodes == 3
    first_episode = [e for e in examples if "__s0#" in e.source]
    # A Type I agent whose (scripted) planner answers exactly what the expert did, on the same seed:
    # the prompts it really sends must be the rebuilt training prompts, step for step.
    agent = make_agent("type1", model=scripted_model([json.loads(e.target) for e in first_episode]))
    llm_run = record(tmp_path, agent, [0], "llm")
    assert [s["trace"]["messages"] for s in RunDir(llm_run).trajectory(episode_id("type1", ENV, 0))] == \
        [e.messages for e in first_episode]
    assert json.loads(first_episode[0].target)["args"] == {}
    # Runs of LLM agents are used with their recorded prompts.
    recorded, _ = collect_examples([llm_run], history_size=4)
    assert [(e.messages, e.target) for e in recorded] == [(e.messages, e.target) for e in first_episode]


def test_mismatched_or_empty_training_sets_are_refused(expert_run, tmp_path):
    failures = record(tmp_path, make_agent("random"), [0, 1], "random", max_steps=1)
    with pytest.raises(TrainingDataError, match="no successful episode"):
        collect_examples([failures], 4)
    path = expert_run / "episodes" / episode_id("expert", ENV, 1) / "trajectory.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1]["observation"] = rows[1]["observation"].replace("Mission:", "Mission (edited):")
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(expert_run, broken)
    (broken / path.relative_to(expert_run)).write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(TrainingDataError, match="step 1: the replayed observation differs"):
        collect_examples([broken], 4)
    with pytest.raises(LmaError, match="not an lma run folder"):
        collect_examples([tmp_path / "nowhere"], 4)


def test_loss_is_on_the_target_tokens_only(expert_run, tiny_model):
    _, tokenizer = load_base(f"transformers:{tiny_model}")
    example = collect_examples([expert_run], 4)[0][0]
    row = encode(example, tokenizer, max_length=4096)
    target = [t for t, label in zip(row["input_ids"], row["labels"]) if label != -100]
    assert row["labels"][: len(row["labels"]) - len(target)] == [-100] * (len(row["labels"]) - len(target))
    assert tokenizer.decode(target).startswith(example.target) and "<|im_end|>" in tokenizer.decode(target)
    assert encode(example, tokenizer, max_length=10) is None


def test_cli_lora_output_loads_in_the_transformers_backend(expert_run, tiny_model, tmp_path, capsys):
    out = tmp_path / "models" / "babyai"
    assert main(["finetune", "--from", str(expert_run), "--base", f"transformers:{tiny_model}", "--out", str(out),
                 "--lora", "--max-steps", "2", "--batch-size", "2"]) == 0
    assert "use it with: lma run --agent type2 --model transformers:" in capsys.readouterr().out
    info = json.loads((out / "lma-finetune.json").read_text())
    assert info["figures"]["steps"] == 2 and info["episodes"] == 3 and info["settings"]["lora"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["babyai"]  # no partial folder left
    assert not (out / "adapter_config.json").exists()  # merged: a plain checkpoint

    from lma.models import load_model
    from lma.tools.base import tool_call_schema, validate_call

    agent = make_agent("type2", model=str(out))  # a bare folder means transformers:DIR
    assert agent.model_spec == f"transformers:{out}"
    env_tools = __import__("lma").make(ENV).unwrapped.tools
    completion = load_model(f"transformers:{out}").complete(
        collect_examples([expert_run], 4)[0][0].messages, schema=tool_call_schema(env_tools), max_tokens=32)
    from lma.planning.planner import coerce_call

    assert validate_call(coerce_call(completion.parsed), env_tools) is None


def test_adapter_only_then_merge_and_full_finetuning(expert_run, tiny_model, tmp_path):
    data = tmp_path / "data.jsonl"
    assert main(["finetune", "--from", str(expert_run), "--save-data", str(data)]) == 0
    assert all(json.loads(line)["target"] for line in data.read_text().splitlines())
    adapter, merged, full = tmp_path / "adapter", tmp_path / "merged", tmp_path / "full"
    assert main(["finetune", "--from", str(data), "--base", str(tiny_model), "--out", str(adapter), "--lora",
                 "--adapter-only", "--max-steps", "1", "--batch-size", "2"]) == 0
    assert (adapter / "adapter_config.json").exists()
    assert main(["finetune", "--merge", str(adapter), "--out", str(merged)]) == 0
    assert (merged / "config.json").exists() and not (merged / "adapter_config.json").exists()
    assert main(["finetune", "--from", str(data), "--base", str(tiny_model), "--out", str(full),
                 "--max-steps", "1", "--batch-size", "2"]) == 0
    assert json.loads((full / "lma-finetune.json").read_text())["settings"]["lora"] is False


@pytest.mark.parametrize("args, message", [
    (["--base", "openai:http://127.0.0.1:9/v1#x"], "cannot fine-tune 'openai:"),
    (["--base", "transformers:/nonexistent/model"], "base model folder not found"),
    (["--max-length", "8"], "longer than --max-length 8"),
])
def test_bad_bases_and_settings_fail_cleanly_without_output(expert_run, tiny_model, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    argv = ["finetune", "--from", str(expert_run), "--base", f"transformers:{tiny_model}", "--out", str(out),
            "--max-steps", "1"] + args
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing that looks like (or is) a model was left


def test_existing_output_is_never_overwritten(expert_run, tiny_model, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert main(["finetune", "--from", str(expert_run), "--base", str(tiny_model), "--out", str(tmp_path / "out")]) == 2
    assert "already exists" in capsys.readouterr().err and (tmp_path / "out" / "keep.txt").read_text() == "mine"
    assert target_text(__import__("lma").ToolCall("forward")) == '{"name": "forward", "args": {}}'


@pytest.mark.slow
def test_gguf_export_of_the_embedded_model_is_served_by_llamacpp(tmp_path):
    """Exporting SmolLM2 (standing in for a fine-tuned model) back to GGUF: the export checks its
    mapping against the base file, and llama.cpp then plans valid calls with the result."""
    pytest.importorskip("llama_cpp")
    import lma
    from lma.agents.llm import plan_input
    from lma.train.gguf_export import export_gguf
    from lma.models import load_model
    from lma.planning.planner import Planner

    model, _ = load_base("llamacpp:smollm2-135m")
    model.save_pretrained(tmp_path / "plain")
    out = export_gguf(tmp_path / "plain", "llamacpp:smollm2-135m", tmp_path / "plain.gguf")
    assert out.is_file() and not (tmp_path / "plain.gguf.partial").exists()
    env = lma.make(ENV)
    obs, _ = env.reset(seed=0)
    plan = Planner(load_model(f"llamacpp:{out}?n_threads=1")).plan(plan_input(obs["text"], env.unwrapped.tools, []))
    assert plan.call is not None and plan.error is None
