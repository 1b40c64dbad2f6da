"""The noisy expert (DART): injected mistakes are taken, marked, shown to later steps, never trained on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lma

from lma.agents import ExpertAgent, make_agent
from lma.core import Task
from lma.errors import LmaError
from lma.run.recording import RunDir, episode_id
from lma.run.runner import run_episode
from lma.train.data import (
    Example,
    Step,
    collect_examples,
    load_examples,
    merge_steps,
    save_examples,
)

ENV = "babyai/balrog-putnext-v0"


def record(folder: Path, agent, seeds) -> Path:
    run = RunDir.create(folder / "runs", "noisy", {"agent": agent.config(), "env": ENV})
    for seed in seeds:
        recorder = run.episode(episode_id(agent.name, ENV, seed), record_frames=False)
        run.add_result(run_episode(agent, Task(ENV, seed), recorder=recorder))
    return run.path


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory):
    return record(tmp_path_factory.mktemp("noisy"), ExpertAgent(noise=0.3), range(6))


def test_noise_takes_another_tool_and_says_which_the_expert_chose(noisy_run):
    run = RunDir(noisy_run)
    noisy = [row for result in run.results() for row in run.trajectory(result.episode_id)
             if row.get("trace", {}).get("noise")]
    assert noisy, "30% noise over six episodes made no mistake"
    assert all(row["call"]["name"] != row["trace"]["expert_call"] for row in noisy)
    # BabyAI's bot replans from the action actually taken, so most noisy episodes still succeed.
    assert sum(r.success for r in run.results()) >= 4


def test_noise_is_seeded_by_the_episode():
    def calls(seed):
        agent = ExpertAgent(noise=0.3)
        result = run_episode(agent, Task(ENV, seed), recorder=None)
        return result.steps, agent.rng.random()

    assert calls(3) == calls(3)


def test_noisy_steps_are_context_not_targets(noisy_run, tmp_path):
    examples, episodes = collect_examples([noisy_run])
    assert episodes >= 4
    noisy_turns = sum(len(e.context_only) for e in examples)
    assert noisy_turns > 0
    for e in examples:
        for index in e.context_only:
            assert e.messages[index]["role"] == "assistant" and not e.is_target(index)
    # Every recorded call of a successful episode is in its conversation; only the expert's are targets.
    run = RunDir(noisy_run)
    expert_calls = sum(1 for r in run.results() if r.success for row in run.trajectory(r.episode_id)
                       if row.get("call") and not row.get("trace", {}).get("noise"))
    assert sum(len(e.targets) for e in examples) == expert_calls
    save_examples(examples, tmp_path / "data.jsonl", history=16)
    assert [e.context_only for e in load_examples(tmp_path / "data.jsonl")] == [e.context_only for e in examples]


def test_the_trainer_puts_no_label_on_a_noisy_call():
    from transformers import AutoTokenizer

    from lma.models.shipped import resolve_gguf
    from lma.train.trainer import encode

    gguf = resolve_gguf("smollm2-135m")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    messages = [{"role": "system", "content": "tools"}, {"role": "user", "content": "obs 1"},
                {"role": "assistant", "content": '{"name": "drop", "args": {}}'},
                {"role": "user", "content": "obs 2"},
                {"role": "assistant", "content": '{"name": "go_forward", "args": {}}'}]
    row = encode(Example(messages, 2, "test", context_only=(2,)), tokenizer, 512)
    labelled = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"]) if label != -100])
    assert "go_forward" in labelled and "drop" not in labelled
    assert "drop" in tokenizer.decode(row["input_ids"])  # still in the context


def test_a_conversation_of_mistakes_only_is_dropped():
    prompt = [{"role": "user", "content": "obs"}]
    assert merge_steps([Step(prompt, '{"name": "drop", "args": {}}', trained=False)], "x") == []


def test_noise_out_of_range_is_a_clear_error():
    with pytest.raises(LmaError, match="noise must be in"):
        make_agent("expert", noise=1.5)
    assert ExpertAgent(noise=0.2).config() == {"name": "expert", "noise": 0.2}
    assert json.dumps(ExpertAgent().config()) == '{"name": "expert"}'


def test_a_decoy_start_carries_the_wrong_object_and_the_bot_recovers():
    """decoy=1: the bot of the misread mission leads (marked as noise) until it has picked up the
    other object; BabyAI's bot then drops it, fetches the right one and solves the episode."""
    agent = ExpertAgent(decoy=1.0)
    env = lma.make(ENV)
    obs, _ = env.reset(seed=7)
    agent.reset(Task(ENV, 7), env)
    goal = obs["text"].splitlines()[0]
    decisions, done = [], False
    while not done:
        decision = agent.act(obs)
        decisions.append((obs["text"], decision))
        obs, reward, done, truncated, _ = env.step(decision.call)
        done = done or truncated
    env.close()
    assert reward > 0
    led = [d for _, d in decisions if d.trace.get("decoy")]
    assert led and all(d.trace["noise"] for d in led) and led[-1].call.name == "pick_up"
    after = decisions[len(led)]
    carried = after[0].splitlines()[1]  # "You carry a grey box"
    assert carried.startswith("You carry") and carried.removeprefix("You carry ") not in goal.split(" next to ")[0]
    assert after[1].call.name == "drop" and not after[1].trace.get("noise")


def test_decoy_needs_an_env_that_has_one():
    env = lma.make("memory/facts-v0")
    with pytest.raises(LmaError, match="decoy_action"):
        ExpertAgent(decoy=0.5).reset(Task("memory/facts-v0", 0), env)
    env.close()
    with pytest.raises(LmaError, match="decoy must be in"):
        ExpertAgent(decoy=1.5)
