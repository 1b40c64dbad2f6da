"""The fault soak: a real ``lma eval`` under the faults of :mod:`fault_injection`, and its audit.

:func:`soak` starts the flaky model endpoint, runs ``lma eval`` (worker processes, the
``fault/...`` envs) with the killer thread loose on its workers and browsers, SIGKILLs the whole
``lma eval`` once after a share of its episodes, resumes it with ``lma eval --resume``, and then
audits the run folder (:func:`audit`): every job of the config must have exactly one results line
(a result or a recorded error), no process of the run may be left, and the exit codes must be
the documented ones (0 for a run with any episode measured; -9 for the one that was killed).

Used by ``tests/test_fault_soak.py`` (a short soak) and ``benchmarks/fault_soak.py`` (the full one).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fault_injection import (
    FAULT_LOG_VAR,
    TAG_VAR,
    FlakyModel,
    Killer,
    faulty_id,
    log_fault,
    role,
    tagged,
)

from lma.run.recording import episode_id, read_jsonl

TESTS = Path(__file__).resolve().parent

# Recorded errors by kind: the first pattern found in an episode's error names its kind.
ERROR_KINDS = (
    ("worker-killed", r"worker process died \(signal 9\)"),
    ("env-crash", r"injected env crash"),
    ("step-timeout", r"no answer within"),
    ("model-timeout", r"did not answer within"),
    ("model-500", r"answered HTTP 500"),
    ("model-garbage", r"answered with non-JSON"),
    ("episode-limit", r"time limit|episode exceeded"),
    ("browser-died", r"(?i)browser|chromium|target .*closed|connection closed"),
)


def error_kind(error: str) -> str:
    return next((kind for kind, pattern in ERROR_KINDS if re.search(pattern, error)), "other")


@dataclass
class Plan:
    """What the soak runs and which faults it injects (probabilities per episode, per request)."""

    agents: tuple[str, ...] = ("type1", "random")
    envs: tuple[str, ...] = ("babyai/GoToObj-v0", "webqa/synthetic-v0", "web/shop-buy-v0")
    episodes: int = 34
    workers: int = 2
    seed: int = 0
    max_steps: int = 6
    step_timeout: float = 15.0
    episode_timeout: float = 120.0
    env_faults: dict[str, float] = field(default_factory=lambda: {"crash": 0.08, "hang": 0.06})
    model_faults: dict[str, float] = field(default_factory=lambda: {
        "model-500": 0.05, "model-hang": 0.02, "model-garbage": 0.01, "model-bad-call": 0.04, "model-slow": 0.05})
    model_timeout: float = 2.0
    kill_kinds: tuple[str, ...] = ("worker", "chromium")
    kill_every: tuple[float, float] = (6.0, 14.0)
    kill_limit: int = 1000
    kill_run_at: float = 0.4  # the share of episodes finished when the whole run is SIGKILLed
    run_timeout: float = 2400.0  # seconds for both runs; past it the resumed run is killed (its exit code shows it)


def eval_command(plan: Plan, model_spec: str, out: Path) -> list[str]:
    env_args = [f"{k}={v}" for k, v in {**plan.env_faults, "fault_seed": plan.seed,
                                        "hang_seconds": plan.step_timeout * 4}.items()]
    return [sys.executable, "-m", "lma.cli", "eval", "--agents", ",".join(plan.agents),
            "--envs", ",".join(faulty_id(e) for e in plan.envs), "--episodes", str(plan.episodes),
            "--seed", str(plan.seed), "--workers", str(plan.workers), "--model", model_spec,
            "--max-steps", str(plan.max_steps), "--step-timeout", str(plan.step_timeout),
            "--episode-timeout", str(plan.episode_timeout), "--no-frames", "--import", "fault_injection",
            *[a for pair in env_args for a in ("--env-arg", pair)], "--out", str(out)]


def _environment(tag: str, fault_log: Path) -> dict[str, str]:
    env = dict(os.environ, **{TAG_VAR: tag, FAULT_LOG_VAR: str(fault_log)})
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _wait_gone(tag: str, timeout: float) -> dict[int, list[str]]:
    """Wait up to ``timeout`` for the tagged processes to end; those still alive."""
    deadline = time.monotonic() + timeout
    while (left := tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def soak(plan: Plan, out: Path) -> dict[str, Any]:
    """Run the soak into ``out`` (a fresh folder) and return :func:`audit`'s figures, with the
    wall time, the exit codes and the processes left after the kill and after the run."""
    out.mkdir(parents=True, exist_ok=True)
    tag, fault_log = uuid.uuid4().hex, out / "faults.jsonl"
    env = _environment(tag, fault_log)
    total = len(plan.agents) * len(plan.envs) * plan.episodes
    started = time.monotonic()
    model = FlakyModel(plan.model_faults, seed=plan.seed, hang_seconds=plan.model_timeout * 2, log_path=fault_log)
    killer = Killer(tag, kinds=plan.kill_kinds, every=plan.kill_every, limit=plan.kill_limit, seed=plan.seed,
                    log_path=fault_log)
    codes: list[int] = []
    try:
        with open(out / "eval-1.log", "w") as log:
            first = subprocess.Popen(eval_command(plan, model.spec(plan.model_timeout), out / "runs"), env=env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        killer.start()
        results = _wait_for_run(out / "runs", first, plan.run_timeout)
        while first.poll() is None and len(read_jsonl(results)) < plan.kill_run_at * total:
            if time.monotonic() - started > plan.run_timeout:
                raise TimeoutError("the soak's first run made too little progress")
            time.sleep(0.1)
        killer.pause.set()
        if first.poll() is None:
            first.kill()  # the parent alone: its workers must notice and exit by themselves
            log_fault("run-killed", fault_log, rows=len(read_jsonl(results)))
        codes.append(first.wait())
        left_after_kill = _wait_gone(tag, 20.0)
        killer.pause.clear()
        with open(out / "eval-2.log", "w") as log:
            resumed = subprocess.Popen([sys.executable, "-m", "lma.cli", "eval", "--resume", str(results.parent)],
                                       env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                codes.append(resumed.wait(max(plan.run_timeout - (time.monotonic() - started), 60)))
            except subprocess.TimeoutExpired:  # audited all the same: the exit code says it was stopped
                os.killpg(resumed.pid, signal.SIGKILL)
                codes.append(resumed.wait())
    finally:
        killer.stop()
        model.close()
    left = _wait_gone(tag, 20.0)
    figures = audit(results.parent, fault_log)
    figures.update(wall_s=time.monotonic() - started, exit_codes=codes, browsers_peak=killer.browsers_peak,
                   left_after_kill=sorted(role(c) for c in left_after_kill.values()),
                   leftover=sorted(role(c) for c in left.values()))
    return figures


def _wait_for_run(root: Path, proc: subprocess.Popen, timeout: float) -> Path:
    """The results file of the run ``proc`` is making under ``root`` (once its folder exists)."""
    deadline = time.monotonic() + timeout
    while not (configs := list(root.glob("*/config.yaml"))):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"lma eval ended (exit code {proc.returncode}) before its run folder appeared")
        time.sleep(0.1)
    return configs[0].parent / "results.jsonl"


def audit(run: Path, fault_log: Path) -> dict[str, Any]:
    """What the run folder says against what was done to it.

    ``lost``: jobs of the config without a results line; ``duplicated``: jobs with more than one;
    ``unexpected``: lines of no job; ``unreadable``: lines that are not JSON (a torn write);
    ``silent``: env faults injected into an (env, seed) none of whose episodes recorded an error.
    """
    config = yaml.safe_load((run / "config.yaml").read_text())
    jobs = {episode_id(a["label"], e, s) for s in config["seeds"] for e in config["envs"] for a in config["agents"]}
    lines = (run / "results.jsonl").read_text().splitlines() if (run / "results.jsonl").exists() else []
    rows, unreadable = [], 0
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            unreadable += 1
    count = Counter(r.get("episode_id") for r in rows)
    faults = read_jsonl(fault_log)
    errored = {(r["env"], r["seed"]) for r in rows if r.get("error")}
    silent = [f for f in faults if f["kind"].startswith("env-") and (f["env"], f["seed"]) not in errored]
    return {
        "episodes": len(jobs), "results": len(rows), "lost": len(jobs - set(count)),
        "duplicated": sum(1 for i in jobs if count[i] > 1), "unexpected": len(set(count) - jobs),
        "unreadable": unreadable, "succeeded": sum(1 for r in rows if r.get("success")),
        "faults": Counter(f["kind"] for f in faults),
        "errors": Counter(error_kind(r["error"]) for r in rows if r.get("error")),
        "other_errors": sorted({r["error"] for r in rows if r.get("error") and error_kind(r["error"]) == "other"}),
        "silent": len(silent),
    }
