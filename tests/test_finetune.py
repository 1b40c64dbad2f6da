"""`lma finetune` on expert BabyAI episodes and a tiny random Llama built here (no download)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("peft")

from lma.agents import ExpertAgent, make_agent  # noqa: E402
from lma.cli import main  # noqa: E402
from lma.core import Task  # noqa: E402
from lma.run.recording import RunDir, episode_id  # noqa: E402
from lma.registry import LmaError  # noqa: E402
from lma.run.runner import run_episode  # noqa: E402
from lma.planning.prompt import call_text  # noqa: E402
from lma.train.data import TrainingDataError, collect_examples  # noqa: E402
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
    examples, episodes = collect_examples([expert_run], history=2)
    assert episodes == 3
    by_seed = {seed: [e for e in examples if f"__s{seed}#" in e.source] for seed in range(3)}
    seed = max(by_seed, key=lambda s: sum(len(e.targets) for e in by_seed[s]))
    first_episode = by_seed[seed]
    assert len(first_episode) > 1  # the 2-step window was trimmed: a new conversation began
    # A Type I agent whose (scripted) planner answers exactly what the expert did, on the same seed:
    # the prompts it really sends must be the rebuilt training prompts, step for step.
    calls = [json.loads(target) for e in first_episode for target in e.targets]
    agent = make_agent("type1", model=scripted_model(calls), history=2)
    llm_run = record(tmp_path, agent, [seed], "llm")
    step_prompts = [e.messages[:i] for e in first_episode for i in range(e.first_target, len(e.messages))
                    if e.messages[i]["role"] == "assistant"]
    assert [s["trace"]["messages"] for s in RunDir(llm_run).trajectory(episode_id("type1", ENV, seed))] == step_prompts
    assert json.loads(first_episode[0].targets[0])["args"] == {}
    # Runs of LLM agents are used with their recorded prompts.
    recorded, _ = collect_examples([llm_run], history=2)
    assert [(e.messages, e.first_target) for e in recorded] == [(e.messages, e.first_target) for e in first_episode]


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
    example = max(collect_examples([expert_run], 4)[0], key=lambda e: len(e.targets))
    assert len(example.targets) > 1  # one conversation trains several steps
    row = encode(example, tokenizer, max_length=4096)
    spans, current = [], []
    for token, label in zip(row["input_ids"], row["labels"]):
        if label != -100:
            assert label == token
            current.append(token)
        elif current:
            spans, current = spans + [current], []
    spans += [current] if current else []
    assert len(spans) == len(example.targets)  # one labelled span per step, nothing else labelled
    for span, target in zip(spans, example.targets):
        assert tokenizer.decode(span).startswith(target) and tokenizer.decode(span).rstrip().endswith("<|im_end|>")
    unlabelled = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"]) if label == -100])
    assert "Tools:" in unlabelled and "Goal:" in unlabelled
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
    assert all(json.loads(line)["messages"][json.loads(line)["first_target"]]["role"] == "assistant"
               for line in data.read_text().splitlines())
    adapter, merged, full = tmp_path / "adapter", tmp_path / "merged", tmp_path / "full"
    assert main(["finetune", "--from", str(data), "--base", str(tiny_model), "--out", str(adapter), "--lora",
                 "--adapter-only", "--max-steps", "1", "--batch-size", "2"]) == 0
    assert (adapter / "adapter_config.json").exists()
    assert main(["finetune", "--merge", str(adapter), "--out", str(merged)]) == 0
    assert (merged / "config.json").exists() and not (merged / "adapter_config.json").exists()
    assert main(["finetune", "--from", str(data), "--base", str(tiny_model), "--out", str(full),
                 "--max-steps", "1", "--batch-size", "2"]) == 0
    assert json.loads((full / "lma-finetune.json").read_text())["settings"]["lora"] is False


@pytest.mark.parametrize("layers", [[], ["--lora-layers", "1"]], ids=["all-layers", "top-layer"])
def test_a_round_continues_from_the_previous_rounds_adapter(expert_run, tiny_model, tmp_path, capsys, layers):
    """--warm-start trains the given adapter further (a DAgger round) instead of a new one from the
    base: at a vanishing learning rate the new adapter is the old one, not a fresh initialisation."""
    import torch
    from safetensors.torch import load_file

    common = ["finetune", "--from", str(expert_run), "--base", str(tiny_model), "--lora", "--adapter-only",
              "--batch-size", "2"] + layers
    first, second = tmp_path / "round1", tmp_path / "round2"
    assert main(common + ["--out", str(first), "--max-steps", "3", "--lr", "1e-2"]) == 0
    assert main(common + ["--out", str(second), "--max-steps", "1", "--lr", "1e-12", "--warm-start", str(first)]) == 0
    old, new = (load_file(folder / "adapter_model.safetensors") for folder in (first, second))
    lora_b = [name for name in old if "lora_B" in name]
    assert lora_b and max(float(old[name].abs().max()) for name in lora_b) > 1e-4  # a fresh lora_B is zero
    assert old.keys() == new.keys() and all(torch.allclose(old[name], new[name], atol=1e-6) for name in old)
    assert json.loads((second / "lma-finetune.json").read_text())["settings"]["warm_start"] == str(first)
    if layers:
        return
    torn = tmp_path / "torn"
    shutil.copytree(first, torn)
    (torn / "lma-finetune.json").write_text("{torn")
    capsys.readouterr()
    for extra, message in ((["--warm-start", str(expert_run)], "not an adapter saved by"),
                           (["--warm-start", str(torn)], "not an adapter saved by"),
                           (["--warm-start", str(first), "--lora-rank", "4"], "give the adapter's own --lora-rank 16"),
                           (["--warm-start", str(first), "--history", "3"], "trained on prompts of --history 16")):
        assert main(common + ["--out", str(tmp_path / "bad"), "--max-steps", "1"] + extra) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_saved_data_keeps_the_prompt_shape_it_was_made_with(expert_run, tiny_model, tmp_path, capsys):
    """A planner trained from a saved file is recorded with the file's history, not the command's
    default (it is later shown that many steps); a file of another history or layout is refused."""
    from lma.planning.prompt import LAYOUT

    data = tmp_path / "data.jsonl"
    assert main(["finetune", "--from", str(expert_run), "--save-data", str(data), "--history", "3"]) == 0
    out = tmp_path / "planner"
    assert main(["finetune", "--from", str(data), "--base", str(tiny_model), "--out", str(out), "--lora",
                 "--adapter-only", "--max-steps", "1", "--batch-size", "2"]) == 0
    assert json.loads((out / "lma-finetune.json").read_text())["history"] == 3
    capsys.readouterr()
    assert main(["finetune", "--from", str(data), "--save-data", str(tmp_path / "again.jsonl"), "--history", "5"]) == 2
    assert "saved with --history 3" in capsys.readouterr().err and not (tmp_path / "again.jsonl").exists()
    old = tmp_path / "old.jsonl"
    old.write_text(data.read_text().replace(f'"prompt_layout": {LAYOUT}', f'"prompt_layout": {LAYOUT - 1}'))
    assert main(["finetune", "--from", str(old), "--save-data", str(tmp_path / "again.jsonl")]) == 2
    assert f"an example of prompt layout {LAYOUT - 1}" in capsys.readouterr().err
    old.write_text(data.read_text().replace('"history": 3', '"history": "three"'))
    assert main(["finetune", "--from", str(old), "--save-data", str(tmp_path / "again.jsonl")]) == 2
    assert "history 'three' is not a number of steps" in capsys.readouterr().err


def test_a_runs_prompts_are_trained_at_the_history_its_agent_showed(expert_run, tmp_path, capsys, scripted_model):
    """A model-driven agent records the history its prompts show: training on its run uses it when
    no --history is given, and refuses another one (the prompts cannot be re-cut to it)."""
    from lma.train.data import training_history

    examples, _ = collect_examples([expert_run], history=2)
    seed = int(examples[0].source.split("__s")[1].split("#")[0])
    episode = examples[0].source.split("#")[0]
    calls = [json.loads(t) for e in examples if e.source.startswith(episode) for t in e.targets]
    llm_run = record(tmp_path, make_agent("type1", model=scripted_model(calls), history=2), [seed], "llm")
    assert training_history([expert_run, llm_run], None) == 2  # the expert's prompts are rebuilt at any history
    with pytest.raises(TrainingDataError, match="was shown 2 past steps, so train on it with --history 2"):
        collect_examples([llm_run], history=16)
    data = tmp_path / "data.jsonl"
    assert main(["finetune", "--from", str(llm_run), "--save-data", str(data)]) == 0
    assert {json.loads(line)["history"] for line in data.read_text().splitlines()} == {2}
    other = record(tmp_path, make_agent("type1", model=scripted_model(calls), history=3), [seed], "other")
    capsys.readouterr()
    assert main(["finetune", "--from", f"{llm_run},{other}", "--save-data", str(tmp_path / "both.jsonl")]) == 2
    assert "made with different histories" in capsys.readouterr().err and not (tmp_path / "both.jsonl").exists()


@pytest.mark.parametrize("args, message", [
    (["--base", "openai:http://127.0.0.1:9/v1#x"], "cannot fine-tune 'openai:"),
    (["--base", "transformers:/nonexistent/model"], "base model folder not found"),
    (["--max-length", "8"], "longer than --max-length 8"),
    (["--lora-layers", "1"], "--lora-layers needs --lora"),
    (["--lora", "--lora-layers", "0"], "--lora-layers must be positive"),
    (["--lora", "--lora-layers", "3"], "--lora-layers 3: the model has 2 decoder layers (give 1 to 2)"),
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
    assert call_text(__import__("lma").ToolCall("forward")) == '{"name": "forward", "args": {}}'


@pytest.mark.slow
def test_gguf_export_of_the_embedded_model_is_served_by_llamacpp(tmp_path):
    """Exporting SmolLM2 (standing in for a fine-tuned model) back to GGUF: the export checks its
    mapping against the base file, and llama.cpp then plans valid calls with the result."""
    pytest.importorskip("llama_cpp")
    import lma
    from lma.planning.prompt import plan_input
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


@pytest.mark.parametrize("lora", [False, True])
def test_target_loss_is_the_models_own_loss(expert_run, tiny_model, lora):
    """The output layer applied at the target positions only gives the loss of the full forward,
    and the batch without an attention mask gives the loss of the padding-masked one."""
    import torch

    from lma.train.trainer import collate, target_loss

    model, tokenizer = load_base(f"transformers:{tiny_model}")
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    rows = [encode(e, tokenizer, 4096) for e in collect_examples([expert_run], 4)[0][:3]]
    batch = collate(tokenizer.pad_token_id)(rows)
    lengths = [len(r["input_ids"]) for r in rows]
    assert len(set(lengths)) > 1  # the batch is padded
    mask = torch.tensor([[1] * n + [0] * (max(lengths) - n) for n in lengths])
    with torch.no_grad():
        assert torch.allclose(target_loss(model, batch), model(**batch, attention_mask=mask).loss, atol=1e-5)


def test_lora_on_the_top_layers_trains_them_alone_over_cached_lower_outputs(expert_run, tiny_model, tmp_path):
    """--lora-layers 1: the loss over the lower layer's cached output is the full model's loss, and
    training changes the top layer alone, its adapter named after that layer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file

    from lma.train.frozen_layers import cache_frozen_outputs, decoder_of, layer_linear_names, top_layers_only
    from lma.train.trainer import collate, target_loss

    model, tokenizer = load_base(f"transformers:{tiny_model}")
    model = get_peft_model(model, LoraConfig(r=4, target_modules=layer_linear_names(model), layers_to_transform=[1],
                                             task_type="CAUSAL_LM"))
    rows = [encode(e, tokenizer, 4096) for e in collect_examples([expert_run], 4)[0][:3]]
    full_batch = collate(tokenizer.pad_token_id)(rows)
    cache_frozen_outputs(model, rows, 1, bf16=False)
    with torch.no_grad():
        full = target_loss(model, full_batch)
        with top_layers_only(model, 1):
            assert len(decoder_of(model).layers) == 1
            cached = target_loss(model, collate(tokenizer.pad_token_id)(rows))
    assert len(decoder_of(model).layers) == 2 and torch.allclose(full, cached, atol=1e-5)

    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    assert main(["finetune", "--from", str(expert_run), "--base", str(tiny_model), "--out", str(adapter), "--lora",
                 "--lora-layers", "1", "--adapter-only", "--max-steps", "3", "--batch-size", "2", "--lr", "1e-2"]) == 0
    keys = load_file(str(adapter / "adapter_model.safetensors"))
    assert keys and all(".layers.1." in key for key in keys)
    assert main(["finetune", "--merge", str(adapter), "--out", str(merged)]) == 0
    before, after = load_base(f"transformers:{tiny_model}")[0].state_dict(), load_base(f"transformers:{merged}")[0].state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(".layers.1." in name for name in changed)


def test_a_killed_run_resumes_from_its_last_checkpoint(expert_run, tiny_model, tmp_path):
    import subprocess
    import sys
    import time

    out = tmp_path / "planner"
    argv = [sys.executable, "-m", "lma.cli", "finetune", "--from", str(expert_run), "--base", str(tiny_model),
            "--out", str(out), "--lora", "--batch-size", "1", "--max-steps", "12", "--save-every", "2"]
    checkpoints = tmp_path / ".planner.checkpoints"
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(checkpoints.glob("checkpoint-4")) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.kill()
    first.wait()
    assert list(checkpoints.glob("checkpoint-*")) and not out.exists()
    other = argv[:-1] + ["3"]  # another command is refused the folder
    refused = subprocess.run(other, capture_output=True, text=True)
    assert refused.returncode == 2 and "another training run" in refused.stderr
    assert subprocess.run(argv, capture_output=True).returncode == 0
    figures = json.loads((out / "lma-finetune.json").read_text())["figures"]
    assert figures["steps"] == 12 and figures["resumed_from"].rpartition("-")[2].isdigit()
    assert int(figures["resumed_from"].rpartition("-")[2]) >= 2 and not checkpoints.exists()


def test_at_most_k_examples_are_drawn_from_each_episode(tmp_path):
    """--max-per-episode K: a long episode gives K of its examples (the same K for the same seed, in
    their order), a short one all of its own."""
    from lma.planning.prompt import DEFAULT_HISTORY
    from lma.train.data import Example, save_examples

    def example(source: str) -> Example:
        return Example([{"role": "user", "content": source}, {"role": "assistant", "content": "{}"}], 1, source)

    data = tmp_path / "data.jsonl"
    save_examples([example(f"run/long#{i}") for i in range(6)] + [example("run/short#0")], data, DEFAULT_HISTORY)
    drawn = [collect_examples([str(data)], DEFAULT_HISTORY, per_episode=2, seed=seed)[0] for seed in (0, 0, 1, 2)]
    sources = [[e.source for e in examples] for examples in drawn]
    assert all(len(s) == 3 and s[-1] == "run/short#0" for s in sources)
    assert sources[0] == sources[1] and all(s[:2] == sorted(s[:2], key=lambda x: int(x[-1])) for s in sources)
    assert len({tuple(s) for s in sources}) > 1
