"""Agent ``dagger`` (agents/dagger.py) and the data it gives ``lma finetune`` (lma/train/data.py).

The learner is a Type II agent over a scripted model that always walks forward: a bad planner
whose states the expert labels. Real BabyAI env, real BabyAI bot as the expert.
"""

from __future__ import annotations

import pytest

from lma.agents import make_agent
from lma.core import Task, ToolCall
from lma.errors import LmaError
from lma.planning.prompt import call_text
from lma.run.recording import RunDir, episode_id
from lma.run.runner import run_episode
from lma.train.data import collect_examples

ENV = "babyai/GoToObj-v0"


def record(tmp_path, agent, seeds, max_steps=8):
    run = RunDir.create(tmp_path / "runs", "dagger", {"agent": agent.config(), "env": ENV})
    results = []
    for seed in seeds:
        recorder = run.episode(episode_id(agent.name, ENV, seed), record_frames=False)
        results.append(run_episode(agent, Task(ENV, seed, max_steps=max_steps), recorder=recorder))
        run.add_result(results[-1])
    return run, results


def test_every_visited_state_is_labelled_and_disagreements_become_the_experts_targets(tmp_path, scripted_model):
    forward = scripted_model([{"name": "forward", "args": {}}])
    run, results = record(tmp_path, make_agent("dagger", model=forward), [0, 1, 2])
    assert not any(r.success for r in results) and not any(r.error for r in results)
    rows = [row for r in results for row in run.trajectory(r.episode_id)]
    labels = [call_text(ToolCall(**row["trace"]["dagger"]["expert"])) for row in rows]
    made = [call_text(ToolCall(row["call"]["name"], row["call"].get("args") or {})) for row in rows]
    assert all(row["trace"]["messages"] for row in rows)  # the learner's own prompts
    disagreements = [label for label, call in zip(labels, made) if label != call]
    assert disagreements and len(disagreements) < len(rows)  # the bot walks forward sometimes

    examples, episodes = collect_examples([run.path])  # failed episodes count: they are labelled
    assert episodes == 3
    corrections = [e for e in examples if e.source.endswith(":expert")]
    assert sorted(e.targets[0] for e in corrections) == sorted(disagreements)
    assert all(len(e.targets) == 1 and e.messages[:-1] in [row["trace"]["messages"] for row in rows]
               for e in corrections)
    kept = [t for e in examples if not e.source.endswith(":expert") for t in e.targets]
    assert sorted(kept) == sorted(call for label, call in zip(labels, made) if label == call)


def test_beta_one_executes_the_expert_and_a_plain_failed_run_gives_no_data(tmp_path, scripted_model):
    forward = scripted_model([{"name": "forward", "args": {}}])
    run, results = record(tmp_path, make_agent("dagger", model=forward, beta=1.0), [0, 1], max_steps=64)
    assert all(r.success for r in results)  # the bot's calls were taken, not the learner's
    assert {row["trace"]["dagger"]["executed"] for r in results for row in run.trajectory(r.episode_id)} == {"expert"}

    plain, failed = record(tmp_path / "plain", make_agent("type2", model=forward), [0])
    assert not failed[0].success
    with pytest.raises(LmaError, match="no successful episode"):
        collect_examples([plain.path])


def test_bad_settings_and_envs_without_an_expert_are_clear_errors(tmp_path, scripted_model):
    forward = scripted_model([{"name": "forward", "args": {}}])
    with pytest.raises(LmaError, match=r"beta must be in \[0, 1\], got 2"):
        make_agent("dagger", model=forward, beta=2.0)
    with pytest.raises(LmaError, match="cannot be dagger itself"):
        make_agent("dagger", learner="dagger")
    result = run_episode(make_agent("dagger", model=forward), Task("CartPole-v1", 0, max_steps=2))
    assert result.error and "has no expert policy" in result.error  # an episode error, never a silent 0


def test_eval_gives_the_learner_the_model_its_preset_would_load():
    from lma.run.evaluate import resolve

    config = resolve({"agents": ["dagger", {"name": "dagger", "learner": "expert", "label": "bot"}],
                      "envs": ["babyai/balrog-putnext-v0"]})
    learner, bot = (a["options"] for a in config["agents"])
    assert learner["model"] == "llamacpp:smollm2-135m-babyai"  # type2's shipped planner for this env
    assert "model" not in bot


@pytest.mark.parametrize("env_id", ["babyai/balrog-putnext-v0", "babyai/balrog-pick_up_seq_go_to-v0"])
def test_asking_the_bot_again_before_the_env_moves_changes_nothing(env_id):
    """BabyAI's bot updates its plan with the last action each time it is asked: a second ask in one
    state (a learner's call that failed validation leaves the env where it was) must not count that
    action twice. On these seeds it did, and the bot then wandered to the step limit."""
    from lma.envs import make

    def labels(seed: int, asks: int) -> tuple[list[str], bool]:
        env = make(env_id)
        env.reset(seed=seed)
        names: list[str] = []
        for step in range(64):
            call = env.unwrapped.expert_action()
            for _ in range(asks - 1):
                assert env.unwrapped.expert_action() == call
            if step < 4:  # the learner's own moves first, away from the bot's plan
                call = ToolCall(["turn_left", "forward", "turn_right", "forward"][step])
            names.append(call.name)
            *_, terminated, truncated, info = env.step(call)
            if terminated or truncated:
                break
        env.close()
        return names, info["success"]

    for seed in range(3):
        once = labels(seed, 1)
        assert once[1] and labels(seed, 2) == once
