"""The episode loop survives misbehaving envs and agents, and records what happened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import faulty_envs
import pytest

from lma.agents import ExpertAgent, LLMAgent
from lma.core import Task
from lma.run.recording import RunDir, read_jsonl
from lma.run.runner import run_episode


@pytest.fixture(autouse=True)
def _faulty():
    faulty_envs.register_all()


def test_env_that_raises_in_step_is_recorded_not_raised():
    result = run_episode(ExpertAgent(), Task("test/faulty-raise-v0", 0))
    assert not result.success and "simulator exploded" in result.error


def test_env_that_raises_in_reset_is_recorded():
    result = run_episode(ExpertAgent(), Task("test/faulty-reset-raises-v0", 0))
    assert "reset exploded" in result.error and result.steps == 0


def test_hung_step_times_out():
    result = run_episode(ExpertAgent(), Task("test/faulty-hang-v0", 0), step_timeout=0.5)
    assert result.error.startswith("StepTimeout") and not result.success


def test_a_process_whose_env_hung_still_exits():
    # The abandoned env thread must not be joined at exit: the env sleeps for an hour.
    script = (
        "import faulty_envs; faulty_envs.register_all()\n"
        "from lma.agents import ExpertAgent\nfrom lma.core import Task\nfrom lma.run.runner import run_episode\n"
        "print(run_episode(ExpertAgent(), Task('test/faulty-hang-v0', 0), step_timeout=0.5).error)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.startswith("StepTimeout"), proc.stderr


def test_invalid_model_output_is_retried_then_recorded(scripted_model, tmp_path):
    # Unconstrained garbage, a wrong tool, then a valid call: the planner retries within a step.
    spec = scripted_model(["not json at all", {"name": "fly", "args": {}}, {"name": "inc", "args": {}}])
    agent = LLMAgent(spec, name="t")
    run = RunDir.create(tmp_path, "r", {})
    result = run_episode(agent, Task("test/faulty-ok-v0", 0, max_steps=3), recorder=run.episode("e"))
    steps = read_jsonl(run.path / "episodes" / "e" / "trajectory.jsonl")
    assert steps[0]["call"] == {"name": "inc", "args": {}}
    assert len(steps[0]["trace"]["outputs"]) == 3
    assert result.error is None


def test_output_invalid_on_every_retry_is_an_error_step(scripted_model):
    agent = LLMAgent(scripted_model(["nonsense"]), name="t", retries=1)
    result = run_episode(agent, Task("test/faulty-ok-v0", 0, max_steps=2))
    assert result.steps == 2 and not result.success
    assert result.error is None  # error steps are recorded per step; the episode itself ran


def test_expert_succeeds_and_results_round_trip(tmp_path):
    run = RunDir.create(tmp_path, "r", {"x": 1})
    result = run_episode(ExpertAgent(), Task("test/faulty-ok-v0", 5), recorder=run.episode("ep"))
    run.add_result(result)
    with open(run.results_path, "a") as f:
        f.write('{"episode_id": "torn')  # a crash mid-write leaves a torn line
    (loaded,) = run.results()
    assert loaded.success and loaded.steps == 3 and loaded.return_ == 1.0
