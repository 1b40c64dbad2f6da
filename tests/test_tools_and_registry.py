"""Tools, schemas and registries: the contracts every other part relies on."""

from __future__ import annotations

from typing import Literal

import pytest

import lma
from lma.core import ToolCall
from lma.errors import LmaError, UnknownNameError
from lma.registry import Registry, agents, envs, models
from lma.tools.base import as_tool, tool, tool_call_schema, validate_call


@tool
def move(direction: Literal["up", "down"], steps: int = 1) -> str:
    """Move the cursor.

    More text the planner does not need."""
    return f"moved {direction} {steps}"


def test_tool_decorator_builds_schema_and_validates():
    assert move.name == "move" and move.description == "Move the cursor."
    assert move.parameters["required"] == ["direction"]
    assert move(direction="up", steps=2).output == "moved up 2"
    bad = move(direction="sideways")
    assert not bad.ok and "sideways" in bad.error
    assert not move(steps=1).ok  # direction is required


def test_tool_exception_becomes_failed_result():
    @tool
    def boom(x: int) -> str:
        """Fail."""
        raise ValueError("nope")

    result = boom(x=1)
    assert not result.ok and "ValueError: nope" in result.error


def test_tool_call_schema_ties_args_to_tool_name():
    import jsonschema

    @tool
    def stop() -> str:
        """Stop."""
        return "stopped"

    schema = tool_call_schema([move, stop])
    jsonschema.validate({"name": "move", "args": {"direction": "down"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "move", "args": {"direction": "left"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "fly", "args": {}}, schema)
    assert validate_call(ToolCall("fly"), [move, stop]).startswith("unknown tool 'fly'")


def test_langchain_tool_is_accepted_with_its_schema():
    lc_tools = pytest.importorskip("langchain_core.tools")

    @lc_tools.tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    t = as_tool(multiply)
    assert t.name == "multiply" and set(t.parameters["properties"]) == {"a", "b"}
    assert t(a=6, b=7).output == "42"
    assert not t(a="six", b=7).ok


def test_unknown_names_suggest_close_matches():
    with pytest.raises(UnknownNameError) as info:
        agents.make("typ1")
    assert "type1" in str(info.value)
    with pytest.raises(UnknownNameError) as info:
        lma.make("babyai/GoToRedBal-v0")
    assert "babyai/GoToRedBall-v0" in str(info.value)
    with pytest.raises(UnknownNameError):
        models.make("llamacp", target="x")


def test_registry_lists_every_kind():
    assert {"type1", "type2", "type3", "type4", "random", "expert"} <= set(agents.names())
    assert "babyai/GoToObj-v0" in envs.names()
    assert {"llamacpp", "openai", "scripted"} <= set(models.names())


def test_registry_refuses_silent_overwrite():
    reg = Registry("env")
    reg._discovered = True
    reg.register("a", "x:y")
    with pytest.raises(LmaError):
        reg.register("a", "x:z")


def test_plain_gymnasium_env_is_wrapped_with_named_tools():
    env = lma.make("CartPole-v1")
    obs, _ = env.reset(seed=3)
    assert [t.name for t in env.unwrapped.tools] == ["push_left", "push_right"]
    assert obs["image"] is not None and obs["image"].ndim == 3
    obs, reward, terminated, truncated, info = env.step(ToolCall("push_right"))
    assert reward == 1.0
    _, _, _, _, info = env.step(ToolCall("jump"))
    assert "unknown tool" in info["error"]
    env.close()


def test_tool_sets_are_registered_and_typed():
    from lma.registry import tools

    assert {"browser", "gui"} <= set(tools.names())
    browser = tools.make("browser")  # the browser starts only on first use
    assert {"goto", "click", "type", "answer"} <= {t.name for t in browser}
    goto = next(t for t in browser if t.name == "goto")
    assert goto.validate({}) is not None  # url is required
    with pytest.raises(LmaError):
        tools.make("gui", display=":9999")  # not a private lma display, and the host display is not allowed
