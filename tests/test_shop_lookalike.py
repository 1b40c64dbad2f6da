"""web/shop-lookalike-v0: "like this, but green" in the Loopback Shop, with the multimodal search tool.

The agent here is a rule agent (``SearchShopper``, written for this test): it reads the colour from
the goal, calls ``search(image="picture", text="but <colour>")`` once and answers with the best
hit's name, read from the tool's output. What it finds comes from the shipped small CLIP and the Chroma index, not from the env.
"""

from __future__ import annotations

import re

import pytest

import lma
from lma.agents.base import Agent
from lma.core import Task, ToolCall
from lma.run.runner import run_episode
from lma.tools.browser import BrowserSession

pytestmark = pytest.mark.timeout(600)


class SearchShopper(Agent):
    """A rule agent: one composed search for the goal's colour, then the top hit's name as the answer."""

    name = "search-shopper"

    def reset(self, task, env):
        super().reset(task, env)
        self.best = None

    def act(self, obs):
        if self.best is None:
            color = re.search(r"but (\w+),", obs["text"]).group(1)
            return ToolCall("search", {"image": "picture", "text": f"but {color}", "k": 3})
        return ToolCall("answer", {"text": self.best})

    def observe(self, record):
        if record.call is not None and record.call.name == "search":  # "- 7: Kestrel Print, green: A print of ..."
            self.best = re.search(r"^- \d+: ([^:]+):", record.result, re.MULTILINE).group(1)


@pytest.fixture(scope="module")
def session():
    with BrowserSession(allow=()) as shared:
        yield shared


@pytest.fixture(scope="module")
def env(session):
    made = lma.make("web/shop-lookalike-v0", session=session)
    yield made
    made.close()


def test_the_home_page_shows_the_picture_and_products_have_pictures(env):
    obs, _ = env.reset(seed=0)
    shop = env.unwrapped
    assert "search" in [t.name for t in shop.tools] and "but " in obs["text"]
    assert len(shop.catalog) == 24 and all(p.picture is not None for p in shop.catalog)
    assert sum(p.name.endswith(", green") for p in shop.catalog) == 4  # a colour word alone is not enough
    assert "Your picture" in obs["text"]
    target = shop.catalog[next(iter(shop.want.items)) - 1]
    assert not any((p.picture == shop.picture).all() for p in shop.catalog)  # re-drawn, not copied
    obs, *_ = env.step(ToolCall("goto", {"url": f"/product/{target.id}"}))
    assert target.name in obs["text"]


def test_oracle_answers_and_wrong_or_vague_answers_fail(env):
    shop = env.unwrapped
    for seed in range(3):
        env.reset(seed=seed)
        *_, terminated, _, info = env.step(shop.expert_action())
        assert terminated and info["success"]
    env.reset(seed=1)
    everything = ", ".join(p.name for p in shop.catalog)
    *_, terminated, _, info = env.step(ToolCall("answer", {"text": everything}))
    assert terminated and not info["success"]


def test_an_agent_finds_the_print_with_the_search_tool(session):
    results = []
    for seed in range(4):  # run_episode closes the env it is given: one env per episode, one browser
        env = lma.make("web/shop-lookalike-v0", session=session)
        results.append(run_episode(SearchShopper(), Task("web/shop-lookalike-v0", seed=seed, max_steps=4), env=env))
        assert env.unwrapped._index_dir is None  # closing dropped the episode's index
    assert all(r.error is None for r in results), [r.error for r in results]
    assert all(r.steps == 2 for r in results)
    assert sum(r.success for r in results) >= 3, [r.success for r in results]
