"""Where evaluation episodes run: a pool of local worker processes, or tasks on a Ray cluster.

Every (agent, env, seed) episode is one :class:`Job`. The pools offer the same small interface
to the scheduler in :mod:`lma.run.evaluate`: ``capacity`` jobs at once, ``submit(job)``,
``wait(timeout) -> [(job, result)]``, ``kill(job, reason) -> result`` and ``close()``.

* :class:`InlinePool`: one job at a time in this very process (``lma run``); the runner's own time
  limits apply, and agents stay loaded between episodes.
* :class:`LocalPool`: ``capacity`` processes started with ``spawn``, one pipe each (a killed worker
  cannot corrupt a queue the others share). A worker keeps its agents between episodes. A worker
  that dies (segfault, ``os._exit``, the OOM killer) or is killed at the episode time limit is
  replaced; its episode is recorded with the error and whatever steps it had recorded.
  Workers write their episode folders straight into the run folder; their stdout/stderr go to
  ``logs/worker-N.log`` there, so C libraries cannot scribble over the progress bar.
* :class:`RayPool`: the same jobs as Ray tasks (``max_retries=0``: a crash is a result, not a
  retry). A task records its episode in a temporary folder on whichever node runs it and returns
  the files, so the run folder needs no shared filesystem. The episode limit is enforced with
  ``ray.cancel(force=True)``.

The pools never write ``results.jsonl``; the scheduler appends each result once (the single writer).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_any
from pathlib import Path
from typing import Any

from lma.agents.base import Agent
from lma.core import EpisodeResult, Task
from lma.run.model_server import exit_with_parent
from lma.run.recording import EpisodeRecorder, RunDir, episode_id, read_jsonl
from lma.errors import LmaError, describe_error


@dataclass
class Job:
    """One episode to run; ``label`` is the agent's name in the results (unique within a run)."""

    label: str
    agent: str
    options: dict[str, Any]
    env: str
    seed: int
    max_steps: int | None = None
    step_timeout: float | None = 60.0
    episode_timeout: float | None = 900.0
    record_frames: bool = True
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def episode_id(self) -> str:
        return episode_id(self.label, self.env, self.seed)


def import_modules(names: list[str]) -> None:
    """Import the modules a run names (plugins that register envs or agents), with a clear error."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise LmaError(f"cannot import {name!r} (listed in imports): {exc}") from None


def build_agent(job: Job, cache: dict[str, Agent]) -> Agent:
    """The job's agent, built once per process and reused (agents reset between episodes)."""
    if job.label not in cache:
        from lma.agents import make_agent

        agent = make_agent(job.agent, **job.options)
        agent.name = job.label
        cache[job.label] = agent
    return cache[job.label]


def execute(job: Job, folder: Path, cache: dict[str, Agent]) -> EpisodeResult:
    """Run one job, recording into ``folder``; never raises (see :func:`lma.run.runner.run_episode`)."""
    from lma.run.runner import run_episode

    try:
        agent = build_agent(job, cache)
    except Exception as exc:
        return EpisodeResult(job.episode_id, job.env, job.label, job.seed,
                             error=f"agent could not be built: {describe_error(exc)}")
    task = Task(job.env, job.seed, max_steps=job.max_steps, env_kwargs=dict(job.env_kwargs))
    return run_episode(agent, task, recorder=EpisodeRecorder(folder, job.record_frames),
                       step_timeout=job.step_timeout, episode_timeout=job.episode_timeout)


def cut_short(job: Job, run: RunDir, error: str, seconds: float) -> EpisodeResult:
    """The result of an episode whose worker died or was killed: the steps it had recorded, and why."""
    steps = read_jsonl(run.path / "episodes" / job.episode_id / "trajectory.jsonl")
    usage = [s.get("usage") or {} for s in steps]
    return EpisodeResult(
        job.episode_id, job.env, job.label, job.seed, steps=len(steps),
        return_=float(sum(s.get("reward") or 0.0 for s in steps)),
        tokens_in=sum(u.get("tokens_in", 0) for u in usage), tokens_out=sum(u.get("tokens_out", 0) for u in usage),
        model_seconds=sum(u.get("latency", 0.0) for u in usage), seconds=seconds, error=error,
    )


def _worker_main(conn: Any, run_path: str, imports: list[str], log_path: str, parent_pid: int) -> None:
    exit_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    import_modules(imports)
    run, cache = RunDir(run_path), {}
    while True:
        try:
            job = conn.recv()
        except EOFError:
            break
        if job is None:
            break
        result = execute(job, run.path / "episodes" / job.episode_id, cache)
        conn.send(result.to_json())
    for agent in cache.values():
        agent.close()


class InlinePool:
    """Runs each job in this process when the scheduler waits for it; see the module docstring."""

    capacity = 1

    def __init__(self, run: RunDir):
        self.run, self.cache = run, {}
        self.job: Job | None = None

    def submit(self, job: Job) -> None:
        self.job = job

    def wait(self, timeout: float) -> list[tuple[Job, EpisodeResult]]:
        job, self.job = self.job, None
        return [] if job is None else [(job, execute(job, self.run.path / "episodes" / job.episode_id, self.cache))]

    def kill(self, job: Job, reason: str) -> EpisodeResult:  # pragma: no cover - wait() never leaves one running
        raise RuntimeError("an inline job cannot outlive wait()")

    def close(self) -> None:
        for agent in self.cache.values():
            agent.close()


@dataclass
class _Slot:
    index: int
    process: Any
    conn: Any
    job: Job | None = None
    started: float = 0.0


class LocalPool:
    """Worker processes on this machine; see the module docstring."""

    def __init__(self, capacity: int, run: RunDir, imports: list[str]):
        self.capacity, self.run, self.imports = capacity, run, imports
        self.ctx = mp.get_context("spawn")
        (run.path / "logs").mkdir(exist_ok=True)
        self.slots = [self._start(i) for i in range(capacity)]

    def _start(self, index: int) -> _Slot:
        parent, child = self.ctx.Pipe()
        log = str(self.run.path / "logs" / f"worker-{index}.log")
        process = self.ctx.Process(target=_worker_main, args=(child, str(self.run.path), self.imports, log, os.getpid()),
                                   daemon=True, name=f"lma-worker-{index}")
        process.start()
        child.close()
        return _Slot(index, process, parent)

    def submit(self, job: Job) -> None:
        slot = next(s for s in self.slots if s.job is None)
        try:
            slot.conn.send(job)
        except (BrokenPipeError, OSError):  # it died while idle: replace it, the job has not started
            slot.conn.close()
            slot = self.slots[slot.index] = self._start(slot.index)
            slot.conn.send(job)
        slot.job, slot.started = job, time.monotonic()

    def wait(self, timeout: float) -> list[tuple[Job, EpisodeResult]]:
        busy = [s for s in self.slots if s.job is not None]
        if not busy:
            return []
        wait_any([s.conn for s in busy] + [s.process.sentinel for s in busy], timeout)
        done = []
        for slot in busy:
            row = None
            try:
                if slot.conn.poll():
                    row = slot.conn.recv()
            except (EOFError, OSError):
                pass
            if row is not None:
                done.append((slot.job, EpisodeResult.from_json(row)))
                slot.job = None
            elif not slot.process.is_alive():
                code = slot.process.exitcode
                why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                done.append((slot.job, self._replace(slot, f"worker process died ({why})")))
        return done

    def kill(self, job: Job, reason: str) -> EpisodeResult:
        slot = next(s for s in self.slots if s.job is job)
        slot.process.kill()
        slot.process.join()
        return self._replace(slot, reason)

    def _replace(self, slot: _Slot, error: str) -> EpisodeResult:
        assert slot.job is not None
        result = cut_short(slot.job, self.run, error, time.monotonic() - slot.started)
        slot.conn.close()
        self.slots[slot.index] = self._start(slot.index)
        return result

    def close(self) -> None:
        """Stop idle workers politely; kill busy ones (an interrupted run reruns their episodes on resume)."""
        for slot in self.slots:
            if slot.job is not None:
                slot.process.kill()
                continue
            try:
                slot.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + 10
        for slot in self.slots:
            slot.process.join(max(0.1, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()


def check_ray_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a Ray address nothing listens at (``ray.init`` would retry for minutes)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise LmaError(f"no Ray cluster at {address}: {getattr(exc, 'strerror', None) or exc}") from None


_RAY_AGENTS: dict[str, Agent] = {}  # per Ray worker process: agents are reused between tasks


def _ray_task(job: Job, imports: list[str]) -> tuple[dict[str, Any], dict[str, bytes]]:
    import_modules(imports)
    folder = Path(tempfile.mkdtemp(prefix="lma-episode-"))
    try:
        result = execute(job, folder, _RAY_AGENTS)
        return result.to_json(), {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class RayPool:
    """Jobs as Ray tasks; a local Ray (loopback only) is started when no ``address`` is given."""

    def __init__(self, capacity: int, run: RunDir, imports: list[str], address: str | None = None):
        try:
            import ray
        except ImportError:
            raise LmaError("--backend ray needs Ray: pip install 'lma[ray]'") from None
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        self.capacity, self.run, self.imports, self.ray = capacity, run, imports, ray
        self.temp_dir: Path | None = None
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level="WARNING")
            else:
                # Ray's socket paths must stay under ~107 bytes: a deep run folder gets a short /tmp folder.
                here = run.path.resolve() / "ray"
                self.temp_dir = here if len(str(here)) <= 40 else Path(tempfile.mkdtemp(prefix="lma-ray-"))
                ray.init(num_cpus=capacity, include_dashboard=False, _temp_dir=str(self.temp_dir),
                         _node_ip_address="127.0.0.1", log_to_driver=False, logging_level="WARNING",
                         runtime_env={"env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}})
        except Exception as exc:  # a bad address, a cluster that is down: the user's to fix
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise LmaError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {first_line}") from None
        self.remote = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        self.refs: dict[Any, tuple[Job, float]] = {}

    def submit(self, job: Job) -> None:
        self.refs[self.remote.remote(job, self.imports)] = (job, time.monotonic())

    def wait(self, timeout: float) -> list[tuple[Job, EpisodeResult]]:
        if not self.refs:
            return []
        ready, rest = self.ray.wait(list(self.refs), num_returns=1, timeout=timeout)
        if ready and rest:
            ready += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        done = []
        for ref in ready:
            job, started = self.refs.pop(ref)
            try:
                row, files = self.ray.get(ref)
            except Exception as exc:  # RayTaskError, WorkerCrashedError: the task, not the run, failed
                done.append((job, cut_short(job, self.run, f"ray task failed: {type(exc).__name__}",
                                            time.monotonic() - started)))
                continue
            recorder = self.run.episode(job.episode_id)  # clears what an earlier attempt left
            for name, data in files.items():
                (recorder.path / name).write_bytes(data)
            done.append((job, EpisodeResult.from_json(row)))
        return done

    def kill(self, job: Job, reason: str) -> EpisodeResult:
        ref, (_, started) = next((r, v) for r, v in self.refs.items() if v[0] is job)
        self.ray.cancel(ref, force=True)
        del self.refs[ref]
        return cut_short(job, self.run, reason, time.monotonic() - started)

    def close(self) -> None:
        self.ray.shutdown()
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
