"""Faults injected into a real ``lma eval``, as real components (no mocks), for the fault soak.

* :class:`FaultyEnv`: any lma env behind a wrapper that, at a random step chosen by a seed, raises
  (an env crash) or sleeps past the run's step timeout (an env hang). Importing this module
  (``lma eval --import fault_injection``) registers ``fault/<family>-<name>`` for the envs in
  :data:`WRAPPED`; the fault rates are env options (``--env-arg crash=0.1``), so the run's
  config records them.
* :class:`FlakyModel`: an OpenAI-compatible endpoint on 127.0.0.1 whose policy is a rule (a
  seeded uniform choice among the valid calls of the request's JSON schema) and which, at random
  by seed, answers HTTP 500, hangs past the client's timeout, writes garbage (a body that is not
  JSON, or a message that is not a tool call) or answers slowly.
* :class:`Killer`: a thread that SIGKILLs, at random intervals, a worker process of the run or a
  Chromium browser one of them started.

Every injected fault is appended to the fault log (``$LMA_FAULT_LOG``, one JSON line each, written
like ``results.jsonl``), so the soak can compare what was done to the run with what it recorded.
Processes of the run are told apart from everyone else's by a tag in their environment
(:data:`TAG_VAR`), which every child inherits, Chromium included.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gymnasium as gym

from lma.envs import make
from lma.registry import envs
from lma.run.recording import append_line

FAULT_LOG_VAR = "LMA_FAULT_LOG"
TAG_VAR = "LMA_SOAK_TAG"
WRAPPED = ("babyai/GoToObj-v0", "webqa/synthetic-v0", "web/shop-buy-v0", "miniwob/click-button-v0")


def log_fault(kind: str, path: str | Path | None = None, **where: Any) -> None:
    """Append one injected fault to the fault log (``path``, else ``$LMA_FAULT_LOG``; none: not logged)."""
    path = path or os.environ.get(FAULT_LOG_VAR)
    if path:
        append_line(Path(path), {"kind": kind, "pid": os.getpid(), "time": time.time(), **where})


# -- envs ---------------------------------------------------------------------------------------


def faulty_id(inner: str) -> str:
    return "fault/" + inner.replace("/", "-")


class FaultyEnv(gym.Wrapper):
    """``inner`` with at most one fault per episode, at a step below ``within``.

    The fault (none, ``env-crash`` with probability ``crash``, ``env-hang`` with probability
    ``hang``) and its step are drawn at reset from ``(fault_seed, inner, episode seed)``, so an
    episode that is run again (after a resume) meets the same fault. A hang sleeps
    ``hang_seconds``, which should exceed the run's ``--step-timeout``: the runner must give up on it.
    """

    def __init__(self, inner: str, crash: float = 0.1, hang: float = 0.1, within: int = 4,
                 hang_seconds: float = 60.0, fault_seed: int = 0, **inner_kwargs: Any):
        super().__init__(make(inner, **inner_kwargs))
        self.inner, self.crash, self.hang, self.within = inner, crash, hang, within
        self.hang_seconds, self.fault_seed = hang_seconds, fault_seed
        self.fault: tuple[str, int] | None = None
        self.seed: int | None = None
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        rng = random.Random(f"{self.fault_seed}:{self.inner}:{seed}")
        roll = rng.random()
        kind = "env-crash" if roll < self.crash else "env-hang" if roll < self.crash + self.hang else None
        self.fault = (kind, rng.randrange(self.within)) if kind else None
        self.seed, self.steps = seed, 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> Any:
        if self.fault is not None and self.steps == self.fault[1]:
            kind = self.fault[0]
            log_fault(kind, env=faulty_id(self.inner), seed=self.seed, step=self.steps)
            if kind == "env-crash":
                raise RuntimeError(f"injected env crash at step {self.steps}")
            time.sleep(self.hang_seconds)
        self.steps += 1
        return self.env.step(action)


for _inner in WRAPPED:
    envs.register(faulty_id(_inner), FaultyEnv, inner=_inner, overwrite=True)


# -- the model endpoint -------------------------------------------------------------------------

MODEL_FAULTS = ("model-500", "model-hang", "model-garbage", "model-bad-call", "model-slow")


def rule_call(schema: dict[str, Any] | None, rng: random.Random, words: list[str]) -> dict[str, Any]:
    """A call that fits ``schema`` (:func:`lma.tools.base.tool_call_schema`): a tool drawn
    uniformly, its required arguments filled with small integers or words of the prompt."""
    options = (schema or {}).get("anyOf") or [schema or {}]
    option = rng.choice(options)
    properties = option.get("properties", {})
    name = properties.get("name", {}).get("const", "noop")
    args_schema = properties.get("args", {})
    args = {}
    for key in args_schema.get("required", []):
        kind = args_schema.get("properties", {}).get(key, {}).get("type")
        args[key] = rng.randint(0, 12) if kind == "integer" else rng.choice(words or ["x"])
    return {"name": name, "args": args}


class FlakyModel:
    """The OpenAI-compatible endpoint of the module docstring, served from a thread of this process.

    Each fault kind has its probability in ``rates`` (keys of :data:`MODEL_FAULTS`). The draw for
    a request depends on ``seed``, the request body and how many times that body was sent before,
    so a retried request gets a fresh draw while a run's draws do not depend on thread timing.
    """

    def __init__(self, rates: dict[str, float], *, seed: int = 0, hang_seconds: float = 4.0,
                 slow_seconds: float = 0.5, log_path: str | Path | None = None):
        unknown = set(rates) - set(MODEL_FAULTS)
        if unknown:
            raise ValueError(f"unknown model faults {sorted(unknown)}; known: {', '.join(MODEL_FAULTS)}")
        self.rates, self.seed, self.log_path = rates, seed, log_path
        self.hang_seconds, self.slow_seconds = hang_seconds, slow_seconds
        self.sent: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="flaky-model", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def spec(self, timeout: float) -> str:
        """The ``--model`` spec for it: text only, ``timeout`` seconds a request, one retry."""
        return f"openai:{self.url}#flaky?timeout={timeout:g}&retries=1&images=0"

    def draw(self, body: bytes) -> tuple[str | None, random.Random]:
        """(the fault for this request or None, the rng of its answer)."""
        key = hashlib.sha256(body).hexdigest()
        with self.lock:
            attempt = self.sent[key]
            self.sent[key] += 1
        roll, edge = random.Random(f"{self.seed}:{key}:{attempt}").random(), 0.0
        for kind in MODEL_FAULTS:
            edge += self.rates.get(kind, 0.0)
            if roll < edge:
                return kind, random.Random(key)
        return None, random.Random(key)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(model: FlakyModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet: the fault log says what happened
            pass

        def reply(self, status: int, payload: bytes, kind: str = "application/json") -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (a hang past its timeout)
                pass

        def do_GET(self) -> None:
            self.reply(200, json.dumps({"object": "list", "data": [{"id": "flaky", "object": "model"}]}).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            fault, rng = model.draw(body)
            if fault is not None:
                log_fault(fault, model.log_path)
            if fault == "model-500":
                return self.reply(500, b'{"error": {"message": "injected failure", "type": "server_error"}}')
            if fault == "model-garbage":
                return self.reply(200, b"<html>\x00\xffnot json", "text/html")
            if fault in ("model-hang", "model-slow"):
                time.sleep(model.hang_seconds if fault == "model-hang" else model.slow_seconds)
            request = json.loads(body)
            words = str(request["messages"][-1].get("content", "")).split()[:50]
            schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema")
            call = rule_call(schema, rng, words)
            text = "I would rather not say." if fault == "model-bad-call" else json.dumps(call)
            self.reply(200, json.dumps({
                "id": "flaky", "object": "chat.completion", "model": "flaky",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": len(body) // 4, "completion_tokens": len(text) // 4},
            }).encode())

    return Handler


# -- processes ----------------------------------------------------------------------------------


def _read(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def tagged(tag: str) -> dict[int, list[str]]:
    """Live (not zombie) processes whose environment holds ``TAG_VAR=tag``: pid -> command line."""
    needle, found = f"{TAG_VAR}={tag}".encode(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _read(pid, "stat")
        if not stat or stat.rsplit(b")", 1)[-1].split()[0] == b"Z":
            continue
        if needle in _read(pid, "environ").split(b"\0"):
            found[pid] = [a.decode(errors="replace") for a in _read(pid, "cmdline").split(b"\0") if a]
    return found


def role(cmdline: list[str]) -> str:
    """What a tagged process is: ``worker`` (a spawned lma worker), ``chromium`` (a browser's main
    process), ``chromium-child`` (its renderers and helpers, and the two crash handlers every
    browser starts, which take no ``--type=``), ``eval`` or ``other``."""
    line = " ".join(cmdline)
    if "multiprocessing.spawn" in line:
        return "worker"
    name = Path(cmdline[0]).name if cmdline else ""
    if "chrom" in name:
        helper = "crashpad" in name or any(a.startswith("--type=") for a in cmdline)
        return "chromium-child" if helper else "chromium"
    if "lma.cli" in line:
        return "eval"
    return "other"


class Killer(threading.Thread):
    """SIGKILLs a random tagged process of a random kind in ``kinds`` every ``every`` seconds
    (a uniform draw between the two bounds), at most ``limit`` times; ``pause`` holds it.

    ``browsers_peak``: the most Chromium browsers it saw alive at once (more than one per worker
    would mean browsers outliving their episodes)."""

    def __init__(self, tag: str, *, kinds: tuple[str, ...] = ("worker", "chromium"), every: tuple[float, float] = (4.0, 10.0),
                 limit: int = 1000, seed: int = 0, log_path: str | Path | None = None):
        super().__init__(name="fault-killer", daemon=True)
        self.tag, self.kinds, self.every, self.limit, self.log_path = tag, kinds, every, limit, log_path
        self.rng, self.stopped, self.pause, self.kills = random.Random(seed), threading.Event(), threading.Event(), 0
        self.browsers_peak = 0

    def run(self) -> None:
        while self.kills < self.limit and not self.stopped.wait(self.rng.uniform(*self.every)):
            if self.pause.is_set():
                continue
            kind, roles = self.rng.choice(self.kinds), {pid: role(cmd) for pid, cmd in tagged(self.tag).items()}
            self.browsers_peak = max(self.browsers_peak, sum(r == "chromium" for r in roles.values()))
            victims = sorted(pid for pid, r in roles.items() if r == kind)
            if not victims:
                continue
            pid = self.rng.choice(victims)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills += 1
            log_fault(f"{kind}-killed", self.log_path, victim=pid)

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)
