"""The real embedded model (SmolLM2-135M via llama.cpp) plans valid tool calls, in-process and over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
from conftest import free_port

from lma.agents import LLMAgent
from lma.core import Task, ToolCall
from lma.models import load_model
from lma.models.llamacpp import cpu_has_amx
from lma.models.shipped import resolve_gguf
from lma.run.recording import RunDir, read_jsonl
from lma.run.runner import run_episode
from lma.tools.base import validate_call

pytest.importorskip("llama_cpp")
ACTIONS = {"turn_left", "turn_right", "forward", "pickup", "drop", "toggle", "done"}


def test_embedded_agent_records_only_valid_tool_calls(tmp_path):
    agent = LLMAgent("llamacpp:smollm2-135m", name="type1")
    run = RunDir.create(tmp_path, "r", {})
    result = run_episode(agent, Task("babyai/GoToObj-v0", 3, max_steps=4), recorder=run.episode("e"))
    steps = read_jsonl(run.path / "episodes" / "e" / "trajectory.jsonl")
    assert result.error is None and len(steps) == 4
    for step in steps:
        assert step["error"] is None
        assert step["call"]["name"] in ACTIONS and step["call"]["args"] == {}
        assert step["usage"]["tokens_in"] > 100 and step["usage"]["tokens_out"] > 0
        assert "Mission:" in step["trace"]["messages"][-1]["content"]
    assert result.tokens_in == sum(s["usage"]["tokens_in"] for s in steps)


def test_weights_stay_out_of_amx_buffers_on_a_cpu_with_amx():
    """llama.cpp's AMX matmul segfaults on the embedded model's first decode (lma.models.llamacpp)."""
    import llama_cpp.llama_cpp as low_level

    model = load_model("llamacpp:smollm2-135m")
    assert model.llm.model_params.use_extra_bufts is not cpu_has_amx()
    assert low_level.llama_model_default_params().use_extra_bufts  # llama.cpp's own default is back
    assert model.complete([{"role": "user", "content": "Say hi."}], max_tokens=4).usage.tokens_out > 0


def test_constrained_decoding_fits_arguments():
    from lma.tools.base import tool, tool_call_schema

    @tool
    def type_text(element: int, text: str) -> str:
        """Type text into the element with the given id."""
        return text

    model = load_model("llamacpp:smollm2-135m")
    messages = [{"role": "user", "content": "Type 'hello' into element 4. Answer with a tool call."}]
    completion = model.complete(messages, schema=tool_call_schema([type_text]), max_tokens=64)
    call = ToolCall(completion.parsed["name"], completion.parsed["args"])
    assert call.name == "type_text" and validate_call(call, [type_text]) is None


@pytest.fixture(scope="module")
def llama_server():
    """A real llama.cpp OpenAI-compatible server on a free loopback port (llama-cpp-python's own).

    It loads the model as lma does, out of AMX buffers, or it crashes on an AMX CPU like lma would.
    """
    port = free_port()
    serve = ("import runpy; from lma.models.llamacpp import plain_cpu_weights\n"
             "with plain_cpu_weights(): runpy.run_module('llama_cpp.server', run_name='__main__')")
    proc = subprocess.Popen(
        [sys.executable, "-c", serve, "--model", str(resolve_gguf("smollm2-135m")),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(base + "/models", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("llama.cpp server did not start")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_openai_backend_against_llama_cpp_server(llama_server, tmp_path):
    agent = LLMAgent(f"openai:{llama_server}#smollm2", name="type1")
    run = RunDir.create(tmp_path, "r", {})
    result = run_episode(agent, Task("babyai/GoToRedBall-v0", 1, max_steps=3), recorder=run.episode("e"))
    steps = read_jsonl(run.path / "episodes" / "e" / "trajectory.jsonl")
    assert result.error is None and len(steps) == 3
    assert [s["error"] for s in steps] == [None] * 3
    assert all(s["call"]["name"] in ACTIONS for s in steps)
    assert result.tokens_in > 0 and result.model_seconds > 0
    json.dumps(steps)  # the trajectory is plain JSON
