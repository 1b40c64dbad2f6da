"""Loops: a call already made ``max_repeats`` times at the same observation is ruled out there."""

from __future__ import annotations

import pytest

import lma
from lma.agents import make_agent
from lma.core import Task, ToolCall
from lma.models import load_model
from lma.planning.planner import Planner, decodable_tools
from lma.planning.prompt import Turn, plan_input, render, repeated_calls
from lma.run.runner import run_episode
from lma.tools.base import tool


def test_only_exact_repeats_at_the_same_observation_count():
    left, right = ToolCall("turn_left"), ToolCall("turn_right")
    turns = [Turn("here", left, "ok"), Turn("there", left, "ok"), Turn("here", right, "ok"), Turn("here", left, "ok")]
    assert repeated_calls("here", turns, 2) == [left]
    assert repeated_calls("here", turns, 3) == []
    assert repeated_calls("there", turns, 1) == [left]
    assert repeated_calls("elsewhere", turns, 1) == []
    assert plan_input("here", [], turns).ruled_out == []  # off unless asked for


def test_the_grammar_leaves_out_ruled_out_calls_but_never_every_tool():
    env = lma.make("babyai/balrog-goto-v0")
    tools = env.unwrapped.tools
    env.close()
    turns = [Turn("here", ToolCall("go_forward"), "ok")] * 2
    offered = [t.name for t in decodable_tools(plan_input("here", tools, turns, max_repeats=2))]
    assert "go_forward" not in offered and len(offered) == len(tools) - 1
    everything = [Turn("here", ToolCall(t.name), "ok") for t in tools] * 2
    assert len(decodable_tools(plan_input("here", tools, everything, max_repeats=1))) == len(tools)
    more = everything + [Turn("here", ToolCall("go_forward"), "ok"), Turn("here", ToolCall("drop"), "ok")]
    open_now = {t.name for t in decodable_tools(plan_input("here", tools, more, max_repeats=2))}
    assert open_now == {t.name for t in tools} - {"go_forward", "drop"}  # the least-made stay open


def test_the_shipped_planner_takes_its_next_choice_on_an_unchanged_prompt():
    """The real planner, one state: rule out what it answers, and it answers something else valid,
    from exactly the same prompt."""
    env = lma.make("babyai/balrog-putnext-v0")
    obs, _ = env.reset(seed=1)
    tools = env.unwrapped.tools
    env.close()
    planner = Planner(load_model("llamacpp:smollm2-135m-babyai?n_threads=1"))
    first = planner.plan(plan_input(obs["text"], tools, [], goal="g"))
    assert first.call is not None
    repeats = [Turn(obs["text"], first.call, "ok")] * 2
    ruled = plan_input(obs["text"], tools, repeats, goal="g", max_repeats=2)
    second = planner.plan(ruled)
    assert second.error is None and second.call is not None and second.call != first.call
    assert second.call.name in {t.name for t in tools}
    assert render(ruled) == render(plan_input(obs["text"], tools, repeats, goal="g"))  # the prompt is untouched


def test_a_ruled_out_call_with_arguments_is_refused_and_asked_again(scripted_model):
    @tool
    def click(element: int) -> str:
        """Click an element."""
        return "clicked"

    turns = [Turn("page", ToolCall("click", {"element": 3}), "ok")] * 2
    model = load_model(scripted_model([{"name": "click", "args": {"element": 3}},
                                       {"name": "click", "args": {"element": 4}}]))
    plan = Planner(model).plan(plan_input("page", [click], turns, max_repeats=2))
    assert plan.call == ToolCall("click", {"element": 4})
    assert len(plan.rejected) == 1 and "made here before" in plan.rejected[0]["reason"]


def test_the_agent_records_what_it_ruled_out(scripted_model):
    """Turning left four times shows the first view again; at its third visit turn_left is ruled
    out. A model that ignores the grammar and insists is refused once, then its repeat is taken on
    the last try (a repeat is better than a failed step), and the trace names the ruled-out call."""
    agent = make_agent("type1", model=scripted_model([{"name": "turn_left", "args": {}}]), max_repeats=2, retries=1)
    run_episode(agent, Task("babyai/balrog-goto-v0", 0, max_steps=12))
    ruled = [s for s in agent.steps if s.trace.get("ruled_out")]
    assert ruled and ruled[0].step == 8 and ruled[0].trace["ruled_out"] == ["turn_left()"]
    assert ruled[0].call == ToolCall("turn_left") and len(ruled[0].trace["rejected"]) == 1
    assert all(not s.trace.get("rejected") for s in agent.steps[:8])


@pytest.mark.parametrize("limit", [0, 2])
def test_max_repeats_is_part_of_the_agents_config_when_set(limit, scripted_model):
    agent = make_agent("type1", model=scripted_model([{"name": "go_forward", "args": {}}]), max_repeats=limit)
    assert agent.config().get("max_repeats", 0) == limit and ("max_repeats" in agent.config()) == bool(limit)
