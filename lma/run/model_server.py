"""One local model shared by many worker processes, served by ``lma serve``'s app on loopback.

Why: every worker of ``lma eval`` loading its own copy of a local model costs memory and start-up
time, and two llama.cpp processes on a small machine slow each other badly (prompt processing
uses every core). So the evaluation's parent starts one :class:`SharedModel` per local model
spec: a child process that loads the model and serves it with :func:`lma.serve.build_app`
(OpenAI-compatible, concurrent requests answered in batches: a transformers model through its
batcher, a llama.cpp model by decoding the episodes' requests together over its ``n_parallel``
sequences, each episode's prompt prefix kept in its own: :mod:`lma.models.llamacpp_batch`).
Workers reach it as ``openai:http://127.0.0.1:PORT/v1#SPEC`` through lma's own openai backend, so
prompts, constrained decoding and token counts are those of the model in-process.

The server binds 127.0.0.1 on a free port, runs in its own process (a model that crashes cannot
take the evaluation down with it), ignores Ctrl-C (the parent stops it) and exits when its parent
dies, even by ``kill -9``.
"""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
import os
import re
import signal
import socket
import threading
import time
from typing import Any

from lma.errors import LmaError, describe_error


def exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Exit this process when ``parent_pid`` is gone (a kill -9 of the parent leaves no orphans)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def can_serve() -> bool:
    """Whether ``lma serve``'s dependencies (the ``serve`` extra) are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("fastapi", "uvicorn"))


def _serve(spec: str, conn: Any, parent_pid: int) -> None:
    """Child process: load the model, report the port (or the error), serve until stopped."""
    exit_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvicorn

        from lma.models import load_model
        from lma.serve.app import build_app

        model = load_model(spec)
        app = build_app(model, name=spec)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)  # connections queue from now on, before uvicorn accepts them
    except Exception as exc:
        conn.send(("error", str(exc) if isinstance(exc, LmaError) else describe_error(exc)))
        return
    conn.send(("ready", (sock.getsockname()[1], bool(model.supports_images))))
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


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
