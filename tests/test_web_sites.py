"""lma's own loopback sites (shop, wiki): scripted experts solve every task; the checkers read the
server's state or the ground truth, never the agent's claim; seeds vary the world and the task."""

from __future__ import annotations

import time
import urllib.request

import pytest

import lma
from lma.agents import ExpertAgent
from lma.core import Task, ToolCall
from lma.envs.web.base import BrowserDied
from lma.envs.web.server import LoopbackServer, Response
from lma.run.runner import run_episode
from lma.tools.browser import BrowserSession
from lma.tools.browser_process import kill_group

pytestmark = pytest.mark.timeout(600)
TASKS = ["web/shop-buy-v0", "web/shop-cheapest-v0", "web/shop-price-v0",
         "web/wiki-qa-v0", "web/wiki-multihop-v0", "web/wiki-edit-v0"]


@pytest.fixture(scope="module")
def session():
    with BrowserSession(allow=()) as shared:
        yield shared


@pytest.fixture
def make(session):
    made = []

    def build(env_id):
        env = lma.make(env_id, session=session)
        made.append(env)
        return env

    yield build
    for env in made:
        env.close()


def play_expert(env, seed, limit=30):
    env.reset(seed=seed)
    for _ in range(limit):
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.expert_action())
        assert info.get("error") is None, info["error"]
        if terminated or truncated:
            return info, reward
    raise AssertionError(f"the expert did not finish within {limit} steps")


@pytest.mark.parametrize("env_id", TASKS)
def test_scripted_expert_solves_every_seed(make, env_id):
    env = make(env_id)
    for seed in range(4):
        info, reward = play_expert(env, seed)
        assert info["success"] and reward == 1.0, (seed, env.unwrapped.goal, env.unwrapped.episode_metrics())


@pytest.mark.parametrize("env_id", TASKS)
def test_seeds_vary_the_task_and_repeat_exactly(make, env_id):
    env = make(env_id)
    goals = [env.reset(seed=s)[1]["goal"] for s in (1, 2, 3, 1)]
    assert goals[0] == goals[3] and len(set(goals)) == 3


def test_shop_judges_the_order_received_not_the_claim(make):
    env = make("web/shop-buy-v0")
    shop = env.unwrapped
    env.reset(seed=4)
    _, reward, terminated, _, info = env.step(ToolCall("answer", {"text": "Done, I bought it as asked."}))
    assert terminated and not info["success"] and shop.orders == []
    env.reset(seed=4)  # now place an order with the wrong quantity
    (pid, qty), = shop.want.items.items()
    obs, *_ = env.step(ToolCall("goto", {"url": f"/product/{pid}"}))
    quantity = next(e["id"] for e in obs["data"]["elements"] if e["role"] == "spinbutton")
    add = next(e["id"] for e in obs["data"]["elements"] if e["label"] == "Add to cart")
    env.step(ToolCall("type", {"element": quantity, "text": str(qty + 1)}))
    env.step(ToolCall("click", {"element": add}))
    env.step(ToolCall("goto", {"url": "/checkout"}))
    for _ in range(12):  # the expert fills in the address and places the order
        obs, reward, terminated, _, info = env.step(shop.expert_action())
        if terminated:
            break
    assert terminated and shop.orders and shop.orders[0].items == {pid: qty + 1}
    assert not info["success"] and reward == 0.0


def test_shop_price_and_wiki_answers_are_checked_against_the_truth(make):
    shop = make("web/shop-price-v0")
    shop.reset(seed=2)
    _, _, terminated, _, info = shop.step(ToolCall("answer", {"text": "$0.01"}))
    assert terminated and not info["success"]
    wiki = make("web/wiki-qa-v0")
    wiki.reset(seed=2)
    truth = wiki.unwrapped.truth
    _, _, _, _, info = wiki.step(ToolCall("answer", {"text": f"The answer is {truth}, I think"}))
    assert not info["success"]  # exact match, as in QA benchmarks
    wiki.reset(seed=2)
    _, _, _, _, info = wiki.step(ToolCall("answer", {"text": f" {truth.upper()}. "}))
    assert info["success"]


def test_wiki_edit_is_judged_on_the_stored_revision(make):
    env = make("web/wiki-edit-v0")
    wiki = env.unwrapped
    env.reset(seed=3)
    other = next(a for a in wiki.world.values() if a.title != wiki.chain[0])
    env.step(ToolCall("goto", {"url": f"/edit/{other.slug}"}))
    obs = wiki._last_obs
    text = next(e for e in obs["data"]["elements"] if e["label"].startswith("Text to add"))
    env.step(ToolCall("type", {"element": text["id"], "text": wiki.wanted_edit.text}))
    button = next(e for e in wiki.session.elements if e["label"] == "Publish changes")
    _, _, terminated, _, info = env.step(ToolCall("click", {"element": button["id"]}))
    assert terminated and not info["success"] and wiki.edits[0].slug == other.slug
    assert wiki.wanted_edit.text in env.unwrapped.session.read().output  # the wiki shows the edit


def test_sites_allow_only_their_own_origin():
    other = LoopbackServer(app=lambda request: Response("<p>another loopback site</p>")).start()
    env = lma.make("web/wiki-qa-v0")  # its own browser: the allowlist is exactly its server
    try:
        env.reset(seed=0)
        _, _, _, _, info = env.step(ToolCall("goto", {"url": other.url("/")}))
        assert "refused" in info["error"] and info["refused"] == [other.url("/")]
        assert env.unwrapped.session.policy.describe() == env.unwrapped.server.origin
    finally:
        env.close()
        other.stop()


def test_server_serves_assets_and_404s(make):
    env = make("web/shop-buy-v0")
    server = env.unwrapped.server
    with urllib.request.urlopen(server.url("/static/style.css")) as response:
        assert response.status == 200 and "text/css" in response.headers["Content-Type"]
    with pytest.raises(urllib.error.HTTPError) as before_reset:
        urllib.request.urlopen(server.url("/"))
    assert before_reset.value.code == 503
    env.reset(seed=0)
    for missing in ("/static/../shop.py", "/product/999", "/nope"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(server.url(missing))
        assert error.value.code == 404


def test_runner_with_expert_and_own_browser():
    result = run_episode(ExpertAgent(), Task("web/wiki-multihop-v0", 5))
    assert result.success and result.error is None and result.metrics["hops"] == 2


def test_a_browser_that_dies_ends_the_episode_as_an_error():
    env = lma.make("web/wiki-qa-v0")
    try:
        env.reset(seed=0)
        kill_group(env.unwrapped.session.pid)  # Chromium crashes mid-episode
        time.sleep(0.5)
        with pytest.raises(BrowserDied, match="the browser died during read"):
            env.step(ToolCall("read"))
    finally:
        env.close()
