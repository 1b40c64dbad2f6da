"""MiniWoB++ through lma's browser: every task resets and takes an action; scripted solvers succeed.

One browser serves the whole module (envs share it), so each episode costs a page load, not a
browser start.
"""

from __future__ import annotations

import numpy as np
import pytest

import lma
from lma.agents import ExpertAgent
from lma.core import Task, ToolCall
from lma.envs.web.miniwob_experts import SOLVERS
from lma.envs.web.registration import task_names
from lma.registry import envs
from lma.run.runner import run_episode
from lma.tools.browser import BrowserSession

pytestmark = pytest.mark.timeout(600)
SOLVED = ["click-test", "click-test-2", "click-button", "click-link", "enter-text", "enter-password",
          "login-user", "focus-text", "click-checkboxes", "choose-list"]


@pytest.fixture(scope="module")
def session():
    with BrowserSession(allow=(), action_timeout=2) as shared:
        yield shared


@pytest.fixture(scope="module")
def env(session):
    made = lma.make("miniwob/click-test-v0", session=session)
    yield made.unwrapped
    made.close()


def test_every_packaged_task_is_registered():
    names = task_names()
    assert len(names) >= 120 and "click-button" in names and "flight.AA" in names
    assert all(f"miniwob/{task}-v0" in envs for task in names)


@pytest.mark.parametrize("task", task_names())
def test_task_resets_and_accepts_an_action(env, task):
    env.set_task(task)
    obs, info = env.reset(seed=0)
    assert info["goal"] and obs["text"].startswith(f"Task: {info['goal']}")
    assert isinstance(obs["image"], np.ndarray) and obs["image"].ndim == 3
    elements = obs["data"]["elements"]
    assert elements and all(set(e) == {"id", "box", "role", "label"} for e in elements)
    targets = [e for e in elements if e["role"] != "text"] or elements
    obs, reward, terminated, truncated, info = env.step(ToolCall("click", {"element": targets[0]["id"]}))
    assert not truncated and obs["data"]["url"].endswith(env.path)
    assert info.get("error") is None or info["error"].startswith("click:")
    if terminated:
        assert set(env.episode_metrics()) == {"raw_reward", "reward", "reason"}


@pytest.mark.parametrize("task", SOLVED)
def test_scripted_solver_succeeds_on_20_seeds(env, task):
    env.set_task(task)
    raw = []
    for seed in range(20):
        env.reset(seed=seed)
        for _ in range(12):
            obs, reward, terminated, truncated, info = env.step(env.expert_action())
            if terminated or truncated:
                break
        raw.append(env.episode_metrics()["raw_reward"])
    assert np.mean([r > 0 for r in raw]) >= 0.95, raw


def test_solvers_cover_the_required_tasks():
    assert set(SOLVED) <= set(SOLVERS)


def test_same_seed_same_task_and_reward_read_from_the_page(env):
    env.set_task("click-button")
    goals = [env.reset(seed=7)[1]["goal"] for _ in range(2)]
    assert goals[0] == goals[1] and goals[0] != env.reset(seed=8)[1]["goal"]
    for seed in range(10):  # an episode with a wrong button to press
        obs, _ = env.reset(seed=seed)
        wrong = [e for e in obs["data"]["elements"] if e["role"] == "button" and f'"{e["label"]}"' not in env.goal]
        if wrong:
            break
    obs, reward, terminated, _, info = env.step(ToolCall("click", {"element": wrong[0]["id"]}))
    assert terminated and not info["success"] and reward < 0
    assert env.episode_metrics()["raw_reward"] == -1.0


def test_bad_actions_are_failed_steps_not_crashes(env):
    env.set_task("enter-text")
    env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step(ToolCall("click", {"element": 10**6}))
    assert "not on the page" in info["error"] and not terminated
    _, _, _, _, info = env.step(ToolCall("goto", {"url": "http://127.0.0.1:1/"}))
    assert "unknown tool 'goto'" in info["error"]  # MiniWoB++ offers no navigation
    textbox = next(e for e in obs["data"]["elements"] if e["role"] == "textbox")
    _, _, _, _, info = env.step(ToolCall("select", {"element": textbox["id"], "option": "x"}))
    assert "not a list" in info["error"]


def test_runner_with_expert_and_own_browser():
    """The path `lma run --agent expert` takes: a fresh env (and browser) per episode."""
    result = run_episode(ExpertAgent(), Task("miniwob/click-button-v0", 3))
    assert result.success and result.error is None
    assert result.metrics["raw_reward"] == 1.0 and 0 < result.metrics["reward"] <= 1.0
