"""The openai backend against real loopback HTTP servers started here (Python's http.server):
what it sends (images as data URLs, response_format), retries of 5xx, timeouts, usage and latency.
The test against ``lma serve`` is in test_serve.py."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from lma.models import ModelError, load_model
from lma.models.openai_compat import image_from_data_url
from lma.tools.base import tool, tool_call_schema


@tool
def click(element: int) -> str:
    """Click an element."""
    return "ok"


ANSWER = {"choices": [{"message": {"role": "assistant", "content": '{"name": "click", "args": {"element": 4}}'}}],
          "usage": {"prompt_tokens": 321, "completion_tokens": 17}}


class Server:
    """A loopback HTTP server that answers chat requests with the given (status, body) list, in turn,
    and records every request body; ``hang=True`` never answers (until the test ends)."""

    def __init__(self, answers: list[tuple[int, dict]] | None = None, hang: bool = False, delay: float = 0.0):
        self.answers, self.bodies, self.release = list(answers or []), [], threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                if hang:
                    outer.release.wait(30)
                    return
                time.sleep(delay)
                status, body = outer.answers.pop(0) if len(outer.answers) > 1 else outer.answers[0]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    made = []

    def make(*args, **kwargs) -> Server:
        made.append(Server(*args, **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_sends_images_as_data_urls_and_the_schema_as_response_format(server):
    srv = server([(200, ANSWER)], delay=0.05)
    model = load_model(f"openai:{srv.url}#vlm?retries=0")
    frame = np.zeros((24, 32, 3), np.uint8)
    frame[4:12, 8:20] = (255, 0, 0)
    schema = tool_call_schema([click])
    out = model.complete([{"role": "user", "content": "click it"}], images=(frame,), schema=schema, max_tokens=50)

    body = srv.bodies[0]
    assert body["model"] == "vlm" and body["max_tokens"] == 50
    parts = body["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "click it"}
    sent = image_from_data_url(parts[1]["image_url"]["url"])
    assert np.array_equal(sent, frame)  # the very pixels, losslessly
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert out.parsed == {"name": "click", "args": {"element": 4}}
    assert (out.usage.tokens_in, out.usage.tokens_out) == (321, 17)
    assert out.usage.latency >= 0.05  # the server's delay is part of the recorded latency


def test_retries_a_server_error_then_succeeds(server):
    srv = server([(500, {"error": {"message": "overloaded"}}), (200, ANSWER)])
    model = load_model(f"openai:{srv.url}#m?retries=2")
    out = model.complete([{"role": "user", "content": "hi"}])
    assert len(srv.bodies) == 2 and out.text.startswith('{"name"')


def test_gives_up_after_the_retries_with_the_servers_message(server):
    srv = server([(503, {"error": {"message": "down for maintenance"}})])
    model = load_model(f"openai:{srv.url}#m?retries=1")
    with pytest.raises(ModelError, match="HTTP 503.*down for maintenance") as err:
        model.complete([{"role": "user", "content": "hi"}])
    assert len(srv.bodies) == 2 and "\n" not in str(err.value)


def test_a_client_error_is_not_retried(server):
    srv = server([(400, {"error": {"message": "bad max_tokens"}})])
    model = load_model(f"openai:{srv.url}#m?retries=3")
    with pytest.raises(ModelError, match="HTTP 400"):
        model.complete([{"role": "user", "content": "hi"}])
    assert len(srv.bodies) == 1


def test_times_out_on_a_server_that_never_answers(server):
    srv = server(hang=True)
    model = load_model(f"openai:{srv.url}#m?timeout=0.5&retries=0")
    start = time.perf_counter()
    with pytest.raises(ModelError, match="did not answer within 0.5s"):
        model.complete([{"role": "user", "content": "hi"}])
    assert time.perf_counter() - start < 5


def test_an_unreachable_server_is_a_clear_error():
    from conftest import free_port

    model = load_model(f"openai:http://127.0.0.1:{free_port()}/v1#m?retries=0")
    with pytest.raises(ModelError, match="cannot reach"):
        model.complete([{"role": "user", "content": "hi"}])


def image_parts(body: dict) -> int:
    return sum(isinstance(m["content"], list) and sum(p["type"] == "image_url" for p in m["content"])
               for m in body["messages"])


def test_an_endpoint_that_rejects_images_is_used_text_only_from_then_on(server):
    srv = server([(400, {"error": {"message": "image input is not supported"}}), (200, ANSWER)])
    model = load_model(f"openai:{srv.url}#m?retries=0")
    frame = np.zeros((4, 4, 3), dtype=np.uint8)
    out = model.complete([{"role": "user", "content": "click it"}], images=(frame,))
    model.complete([{"role": "user", "content": "again"}], images=(frame,))
    assert out.text.startswith('{"name"') and not model.supports_images
    assert [image_parts(b) for b in srv.bodies] == [1, 0, 0]


@pytest.mark.parametrize("answer", [(401, {"error": {"message": "bad key"}}), (429, {"error": {"message": "slow down"}})])
def test_auth_and_rate_limit_errors_do_not_turn_images_off(server, answer):
    srv = server([answer])
    model = load_model(f"openai:{srv.url}#m?retries=0")
    with pytest.raises(ModelError, match=f"HTTP {answer[0]}"):
        model.complete([{"role": "user", "content": "click it"}], images=(np.zeros((4, 4, 3), dtype=np.uint8),))
    assert model.supports_images and len(srv.bodies) == 1
