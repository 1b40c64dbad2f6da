"""``lma serve`` over real HTTP: a tiny random LLaVA served by the real CLI in a subprocess, driven
by concurrent clients and by lma's own openai backend; bad requests and a failing model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import jsonschema
import numpy as np
import pytest

from conftest import free_port
from lma.cli import main as cli
from lma.core import Usage
from lma.models import ChatModel, Completion, ModelError, load_model
from lma.models.openai_compat import image_data_url
from lma.models.tiny import tiny_llava
from lma.planning.planner import PlanInput, Planner
from lma.tools.base import tool, tool_call_schema

pytest.importorskip("fastapi")
pytest.importorskip("transformers")


@tool
def click(element: int) -> str:
    """Click the element with this id."""
    return "clicked"


@tool
def done() -> str:
    """Finish."""
    return "done"


SCHEMA = tool_call_schema([click, done])


def frame(color: tuple[int, int, int]) -> np.ndarray:
    image = np.full((40, 56, 3), 255, np.uint8)
    image[8:30, 10:40] = color
    return image


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``lma serve`` in a subprocess on a free loopback port; yields its /v1 base URL."""
    model_dir = tiny_llava(tmp_path_factory.mktemp("served") / "llava")
    port = free_port()
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "lma.cli", "serve", "--model", f"transformers:{model_dir}",
                                 "--port", str(port), "--name", "tiny", "--batch-wait-ms", "50"],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"lma serve exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail(f"lma serve did not start: {log.read_text()[-2000:]}")
        yield url + "/v1"
    finally:
        proc.terminate()
        proc.wait(20)


def chat(url: str, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(url + "/chat/completions", json=body, timeout=60, **kwargs)


def ask(text: str, image: np.ndarray | None = None) -> list[dict]:
    content: list[dict] = [{"type": "text", "text": text}]
    if image is not None:
        content.append({"type": "image_url", "image_url": {"url": image_data_url(image)}})
    return [{"role": "user", "content": content}]


def test_lists_the_model(server):
    data = httpx.get(server + "/models").json()
    assert [m["id"] for m in data["data"]] == ["tiny"]


@pytest.mark.parametrize("response_format", [
    {"type": "json_schema", "json_schema": {"name": "call", "schema": SCHEMA}},
    {"type": "json_object", "schema": SCHEMA},  # llama.cpp's form
])
def test_image_and_schema_give_json_that_validates(server, response_format):
    r = chat(server, {"messages": ask("Which element?", frame((200, 0, 0))), "max_tokens": 64, "temperature": 0,
                      "response_format": response_format})
    assert r.status_code == 200, r.text
    answer = json.loads(r.json()["choices"][0]["message"]["content"])
    jsonschema.validate(answer, SCHEMA)
    assert r.json()["usage"]["prompt_tokens"] > 20  # the image's tokens count


def test_streaming_sends_the_same_answer_in_pieces(server):
    body = {"messages": ask("Tell a story."), "max_tokens": 16, "temperature": 0}
    whole = chat(server, body).json()["choices"][0]["message"]["content"]
    pieces, finish, usage = [], None, None
    with httpx.stream("POST", server + "/chat/completions", timeout=60,
                      json={**body, "stream": True, "stream_options": {"include_usage": True}}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        event = json.loads(line[6:])
        for choice in event["choices"]:
            pieces.append(choice["delta"].get("content") or "")
            finish = choice["finish_reason"] or finish
        usage = event.get("usage") or usage
    assert len([p for p in pieces if p]) > 1 and "".join(pieces) == whole
    assert finish == "length" and usage["completion_tokens"] == 16


def test_concurrent_clients_get_the_answers_they_would_get_alone(server):
    prompts = [f"Request number {i}: what now?" for i in range(8)]
    body = lambda p: {"messages": ask(p), "max_tokens": 12, "temperature": 0}  # noqa: E731
    alone = [chat(server, body(p)).json()["choices"][0]["message"]["content"] for p in prompts]
    answers: dict[int, str] = {}
    barrier = threading.Barrier(len(prompts))

    def client(i: int) -> None:
        barrier.wait()
        r = chat(server, body(prompts[i]))
        answers[i] = r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else f"HTTP {r.status_code}"

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [answers[i] for i in range(len(prompts))] == alone


def test_the_openai_backend_plans_through_the_server_with_images(server):
    model = load_model(f"openai:{server}#tiny?retries=0")
    plan = Planner(model, retries=0, max_tokens=64).plan(
        PlanInput("Goal: click the red box.", [click, done], images=(frame((220, 10, 10)),)))
    assert plan.error is None, plan.outputs
    assert plan.usage.tokens_in > 20 and plan.usage.tokens_out > 0 and plan.usage.latency > 0


@pytest.mark.parametrize("body, message", [
    (b'{"messages": [', "not valid JSON"),
    (b'{"model": "tiny"}', "messages must be a non-empty list"),
    (b'{"messages": [{"role": "wizard", "content": "hi"}]}', "role"),
    (json.dumps({"messages": ask("x") + [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://example.com/cat.png"}}]}]}).encode(), "nothing is fetched"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}', "tools are not supported"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -3}', "max_tokens"),
])
def test_malformed_requests_get_400_and_the_server_keeps_serving(server, body, message):
    r = httpx.post(server + "/chat/completions", content=body, timeout=30)
    assert r.status_code == 400 and message in r.json()["error"]["message"]
    assert chat(server, {"messages": ask("still there?"), "max_tokens": 2}).status_code == 200


class FailingModel(ChatModel):
    """A test model that fails on purpose when the prompt says "fail" and echoes otherwise."""

    name = "failing"

    def complete(self, messages, *, images=(), schema=None, max_tokens=256, temperature=0.0) -> Completion:
        text = messages[-1]["content"]
        if "fail" in text:
            raise ModelError("out of memory (on purpose)")
        return Completion(text.upper(), usage=Usage(3, 1))


@pytest.fixture
def failing_server():
    import uvicorn

    from lma.serve.app import build_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(FailingModel()), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


def test_a_model_failure_is_a_500_and_the_next_request_is_answered(failing_server):
    r = chat(failing_server, {"messages": [{"role": "user", "content": "please fail"}]})
    assert r.status_code == 500 and "out of memory (on purpose)" in r.json()["error"]["message"]
    with httpx.stream("POST", failing_server + "/chat/completions", timeout=30,
                      json={"messages": [{"role": "user", "content": "fail again"}], "stream": True}) as s:
        events = [line for line in s.iter_lines() if line.startswith("data: ")]
    assert "on purpose" in events[-2] and events[-1] == "data: [DONE]"
    ok = chat(failing_server, {"messages": [{"role": "user", "content": "hello"}]})
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "HELLO"
    assert chat(failing_server, {"messages": [{"role": "user", "content": "hi"}]}).json()["usage"]["total_tokens"] == 4


@pytest.mark.parametrize("argv, message", [
    (["serve", "--host", "0.0.0.0", "--model", "scripted:x.jsonl"], "not a loopback address"),
    (["serve", "--engine", "vllm", "--model", "transformers:/some/model"], "needs vLLM"),
])
def test_cli_refuses_with_one_line(argv, message, capsys):
    import shutil

    if "vllm" in argv and shutil.which("vllm"):
        pytest.skip("vLLM is installed here: --engine vllm would start it")
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_cli_reports_a_port_in_use(capsys, tmp_path, scripted_model):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert cli(["serve", "--model", scripted_model(["hi"]), "--port", str(port)]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err
