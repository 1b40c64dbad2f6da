"""One local model shared by many worker processes, over a tiny OpenAI-compatible loopback server.

Why: every worker of ``lma eval`` loading its own copy of a local model costs memory and start-up
time, and two llama.cpp processes on a small machine slow each other badly (prompt processing
uses every core). So the evaluation's parent starts one :class:`SharedModel` per local model
spec; workers reach it as ``openai:http://127.0.0.1:PORT/v1#SPEC`` through lma's own openai
backend, and the server answers with the same :class:`lma.models.ChatModel` a worker would have
loaded (so prompts, constrained decoding and token counts are unchanged).

Requests that arrive together are answered together through ``ChatModel.complete_batch`` (a
dynamic batcher: backends that batch, such as transformers, share one forward pass; others run
them one by one). The server binds 127.0.0.1 only, runs in its own process (a model that crashes
cannot take the evaluation down with it) and exits when its parent dies.
"""

from __future__ import annotations

import base64
import io
import json
import multiprocessing as mp
import os
import queue
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from lma.registry import LmaError

MAX_BATCH = 16


def exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Exit this process when ``parent_pid`` is gone (a kill -9 of the parent leaves no orphans)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _decode_image(url: str) -> np.ndarray:
    from PIL import Image

    if not url.startswith("data:") or "," not in url:
        raise ValueError("only data: image URLs are accepted")
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def parse_request(body: dict[str, Any]):
    """An OpenAI chat request as a :class:`lma.models.Request` (images inline as data URLs)."""
    from lma.models import Request

    messages, images = [], []
    for m in body["messages"]:
        content = m.get("content") or ""
        if isinstance(content, list):
            texts = [p.get("text", "") for p in content if p.get("type") == "text"]
            images += [_decode_image(p["image_url"]["url"]) for p in content if p.get("type") == "image_url"]
            content = "\n".join(texts)
        messages.append({"role": m["role"], "content": content})
    fmt = body.get("response_format") or {}
    schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else fmt.get("schema")
    return Request(messages, tuple(images), schema, int(body.get("max_tokens") or 256),
                   float(body.get("temperature") or 0.0))


@dataclass
class _Pending:
    request: Any
    done: threading.Event = field(default_factory=threading.Event)
    answer: Any = None
    error: str | None = None


class _Batcher:
    """Answers queued requests in batches of whatever has arrived, on one thread."""

    def __init__(self, model: Any):
        self.model, self.queue = model, queue.Queue()
        threading.Thread(target=self._loop, daemon=True, name="batcher").start()

    def submit(self, request: Any) -> _Pending:
        pending = _Pending(request)
        self.queue.put(pending)
        pending.done.wait()
        return pending

    def _loop(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                answers = self.model.complete_batch([p.request for p in batch])
                for p, answer in zip(batch, answers):
                    p.answer = answer
            except Exception as exc:  # reported to every caller of the batch as HTTP 500
                for p in batch:
                    p.error = f"{type(exc).__name__}: {exc}"
            for p in batch:
                p.done.set()


def _handler(spec: str, batcher: _Batcher) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet: the evaluation owns stderr
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": spec, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                request = parse_request(body)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                self._send(400, {"error": {"message": f"malformed request: {exc}"}})
                return
            pending = batcher.submit(request)
            if pending.error is not None:
                self._send(500, {"error": {"message": pending.error}})
                return
            c = pending.answer
            self._send(200, {
                "object": "chat.completion", "model": spec,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": c.text}}],
                "usage": {"prompt_tokens": c.usage.tokens_in, "completion_tokens": c.usage.tokens_out,
                          "total_tokens": c.usage.tokens_in + c.usage.tokens_out},
            })

    return Handler


def _serve(spec: str, conn: Any, parent_pid: int) -> None:
    """Child process: load the model, report the port (or the error), serve until the parent dies."""
    exit_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the server when it is done
    try:
        from lma.models import load_model

        model = load_model(spec)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(spec, _Batcher(model)))
    except Exception as exc:
        conn.send(("error", str(exc) if isinstance(exc, LmaError) else f"{type(exc).__name__}: {exc}"))
        return
    server.daemon_threads = True
    conn.send(("ready", (server.server_address[1], bool(getattr(model, "supports_images", False)))))
    server.serve_forever()


class SharedModel:
    """A model server process for one spec; ``model_spec`` is what workers pass to ``load_model``."""

    def __init__(self, spec: str, *, start_timeout: float = 600.0):
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        self.spec = spec
        self.process = ctx.Process(target=_serve, args=(spec, child, os.getpid()), daemon=True, name="lma-model")
        self.process.start()
        child.close()
        if not parent.poll(start_timeout):
            self.close()
            raise LmaError(f"the model server for {spec} did not start within {start_timeout:g}s")
        try:
            status, value = parent.recv()
        except EOFError:
            self.close()
            raise LmaError(f"the model server for {spec} exited while loading the model") from None
        if status == "error":
            self.close()
            raise LmaError(f"cannot load model {spec}: {value}")
        self.port, images = int(value[0]), value[1]
        name = re.sub(r"[?&#]", "_", spec)  # the model name is informational; keep the spec parseable
        # Workers see the model as it is: a text-only model is not sent frames (images=0).
        self.model_spec = f"openai:http://127.0.0.1:{self.port}/v1#{name}?timeout=600&images={int(images)}"

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
