"""The fault soak, short: a real ``lma eval`` under injected faults loses no episode and leaves no process.

``benchmarks/fault_soak.py`` runs the long version (>= 200 episodes, Chromium included) and
docs/benchmarks.md has its figures; the faults and the audit are in ``fault_injection`` and
``fault_soak_kit``.
"""

from __future__ import annotations

import os
import random
import signal

import pytest
from fault_injection import FaultyEnv, FlakyModel, rule_call
from fault_soak_kit import Plan, error_kind, soak

from lma.agents.baselines import RandomAgent
from lma.core import Task
from lma.run.runner import run_episode
from lma.tools.base import tool_call_schema


def test_short_soak_every_episode_ends_exactly_once_and_nothing_is_left(tmp_path):
    plan = Plan(envs=("babyai/GoToObj-v0", "webqa/synthetic-v0"), episodes=5, seed=1,
                env_faults={"crash": 0.25, "hang": 0.15}, step_timeout=10.0,
                model_faults={"model-500": 0.1, "model-hang": 0.04, "model-garbage": 0.04,
                              "model-bad-call": 0.05, "model-slow": 0.05},
                model_timeout=1.0, kill_kinds=("worker",), kill_every=(3.0, 6.0), kill_limit=3,
                kill_run_at=0.35, run_timeout=240.0)
    figures = soak(plan, tmp_path)
    assert figures["episodes"] == figures["results"] == 20
    assert figures["lost"] == figures["duplicated"] == figures["unexpected"] == figures["unreadable"] == 0
    assert figures["exit_codes"] == [-signal.SIGKILL, 0]  # the killed run, then the resume that finished it
    assert figures["left_after_kill"] == [] and figures["leftover"] == []
    assert figures["silent"] == 0 and figures["other_errors"] == []
    faults, errors = figures["faults"], figures["errors"]
    assert faults["run-killed"] == 1 and faults["env-crash"] >= 1
    assert errors["env-crash"] >= 1  # an injected crash is the episode's recorded error, not a success
    assert errors["worker-killed"] <= faults["worker-killed"]  # a worker killed while idle costs no episode


def test_faulty_env_meets_the_same_fault_on_the_same_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("LMA_FAULT_LOG", str(tmp_path / "faults.jsonl"))
    crashes = []
    for attempt in range(2):
        env = FaultyEnv("babyai/GoToObj-v0", crash=1.0, hang=0.0, within=3, fault_seed=4)
        result = run_episode(RandomAgent(), Task("babyai/GoToObj-v0", 7, max_steps=6), env=env)
        crashes.append((result.steps, result.error))
    assert crashes[0] == crashes[1] and "injected env crash" in crashes[0][1] and crashes[0][0] < 3


def test_rule_policy_answers_valid_calls_and_faults_follow_the_seed():
    import lma

    env = lma.make("webqa/synthetic-v0")
    schema = tool_call_schema(env.unwrapped.tools)
    env.close()
    names = {rule_call(schema, random.Random(i), ["cat"])["name"] for i in range(30)}
    assert names == {"search", "read", "answer"}
    model = FlakyModel({"model-500": 0.5}, seed=3)
    try:
        draws = [model.draw(b"same body")[0] for _ in range(40)]
        again = FlakyModel({"model-500": 0.5}, seed=3)
        assert [again.draw(b"same body")[0] for _ in range(40)] == draws  # same seed, same faults
        again.close()
        assert 5 < draws.count("model-500") < 35  # a retried request gets a fresh draw
    finally:
        model.close()
    with pytest.raises(ValueError, match="unknown model faults"):
        FlakyModel({"model-fire": 1.0})


def test_error_kinds_name_the_recorded_errors():
    assert error_kind("worker process died (signal 9)") == "worker-killed"
    assert error_kind("RuntimeError: injected env crash at step 2") == "env-crash"
    assert error_kind("ModelError: http://127.0.0.1:1/v1/chat/completions did not answer within 1.0s") == "model-timeout"
    assert error_kind("something new") == "other"


class BrowserKillingAgent(RandomAgent):
    """A random agent that SIGKILLs its env's Chromium before its second action (a scripted fault)."""

    def reset(self, task, env):
        super().reset(task, env)
        self.env, self.acted = env, 0

    def act(self, obs):
        self.acted += 1
        if self.acted == 2:
            os.kill(self.env.unwrapped.session.pid, signal.SIGKILL)
        return super().act(obs)


def test_chromium_killed_mid_episode_is_the_episodes_recorded_error():
    result = run_episode(BrowserKillingAgent(), Task("web/shop-buy-v0", 0, max_steps=6))
    assert result.error is not None and "browser" in result.error and not result.success
    assert error_kind(result.error) == "browser-died"


def test_one_browser_counts_as_one_chromium_not_its_crash_handlers(monkeypatch):
    """Every Chromium starts ``chrome_crashpad_handler`` processes without ``--type=`` (detached,
    but carrying the tag); the soak's browser count must not take them for browsers (it saw 6 for
    2 workers)."""
    from pathlib import Path

    from fault_injection import TAG_VAR, role, tagged

    import lma

    monkeypatch.setenv(TAG_VAR, f"one-browser-{os.getpid()}")
    env = lma.make("web/shop-buy-v0").unwrapped
    try:
        env.reset(seed=0)
        roles = [(role(cmdline), Path(cmdline[0]).name if cmdline else "")
                 for cmdline in tagged(os.environ[TAG_VAR]).values()]
        assert [r for r, _ in roles].count("chromium") == 1, roles
        assert any("crashpad" in name for _, name in roles), roles
    finally:
        env.close()
