"""One episode: the loop of DESIGN.md, with time limits, recording and seeds.

:func:`run_episode` never raises for what happens inside the episode: an env that fails to build,
reset or step, a step that hangs past ``step_timeout``, an agent that fails, or an episode past
``episode_timeout`` all end the episode with ``error`` set, so the next episode still runs. A hung
env call is abandoned on its thread (the env is then closed); for a hard guarantee run episodes
in worker processes (:mod:`lma.run.evaluate`), which are killed at the episode limit.

The step limit is the task's ``max_steps``, else the env's own (``env.unwrapped.max_episode_steps``,
e.g. MiniGrid's), else :data:`DEFAULT_MAX_STEPS`. Success is the last step's ``info["success"]``;
None there means the env cannot tell (a wrapped Gymnasium env without a rule), and the episode's
success is then None, unknown, rather than a failure.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import gymnasium as gym

from lma.agents.base import Agent
from lma.core import Decision, EpisodeResult, StepRecord, Task, ToolCall, Usage
from lma.run.recording import EpisodeRecorder, episode_id
from lma.errors import describe_error
from lma.envs import make

T = TypeVar("T")
DEFAULT_MAX_STEPS = 64


class StepTimeout(Exception):
    pass


class TimedCaller:
    """Runs calls on one worker thread with a time limit; a hung call abandons its thread.

    All calls of one caller run on the same thread (Playwright's sync API, for one, is bound to the
    thread that started it), which also costs far less per step than a thread per call. After a
    timeout the stuck thread is left behind and the next call gets a fresh worker. Workers are
    daemon threads, so a call that never returns cannot keep the process alive at exit (the
    threads of ``concurrent.futures`` executors are joined at exit, and would).
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue | None = None

    def __call__(self, fn: Callable[[], T], timeout: float | None) -> T:
        if timeout is None:
            return fn()
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(self._jobs,), name="lma-env", daemon=True).start()
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            self.close()  # the stuck worker ends by itself if its call ever returns
            raise StepTimeout(f"no answer within {timeout:g}s") from None

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = None


def _serve(jobs: queue.SimpleQueue) -> None:
    """A worker's loop: run each ``(fn, future)`` in turn until ``None`` arrives."""
    while (job := jobs.get()) is not None:
        fn, future = job
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller, which re-raises
            future.set_exception(exc)


def episode_metrics(env: gym.Env, info: dict[str, Any]) -> dict[str, Any]:
    """Env-specific metrics: ``env.unwrapped.episode_metrics()`` where the env defines it."""
    getter = getattr(env.unwrapped, "episode_metrics", None)
    metrics = dict(getter()) if callable(getter) else {}
    metrics.update(info.get("metrics", {}))
    return metrics


def run_episode(
    agent: Agent,
    task: Task,
    *,
    recorder: EpisodeRecorder | None = None,
    step_timeout: float | None = 60.0,
    episode_timeout: float | None = 600.0,
    env: gym.Env | None = None,
) -> EpisodeResult:
    """Run ``agent`` on ``task`` and return the result; see the module docstring."""
    started = time.perf_counter()
    result = EpisodeResult(episode_id(agent.name, task.env_id, task.seed), task.env_id, agent.name, task.seed)
    usage, info = Usage(), {}
    call_with_timeout = TimedCaller()
    try:
        if env is None:
            env = call_with_timeout(lambda: make(task.env_id, **task.env_kwargs), step_timeout)
        obs, info = call_with_timeout(lambda: env.reset(seed=task.seed), step_timeout)
        task.goal = task.goal or str(obs.get("data", {}).get("goal") or obs.get("text", "").split("\n")[0])
        agent.reset(task, env)
        max_steps = task.max_steps or getattr(env.unwrapped, "max_episode_steps", None) or DEFAULT_MAX_STEPS
        for step in range(max_steps):
            if episode_timeout is not None and time.perf_counter() - started > episode_timeout:
                result.error = f"episode exceeded {episode_timeout:g}s"
                break
            t0 = time.perf_counter()
            decision = agent.act(obs)
            if isinstance(decision, ToolCall):
                decision = Decision(decision)
            usage = usage + decision.usage
            record = StepRecord(step, obs.get("text", ""), decision.call, usage=decision.usage,
                                error=decision.error, trace=decision.trace)
            if recorder is not None:
                record.frame = recorder.frame(step, obs.get("image"))
            terminated = truncated = False
            if decision.call is not None:
                call = decision.call
                obs, reward, terminated, truncated, info = call_with_timeout(lambda: env.step(call), step_timeout)
                record.reward, record.terminated, record.truncated = reward, terminated, truncated
                record.error = info.get("error")
                record.result = str(info.get("result", ""))
                result.return_ += reward
            record.seconds = time.perf_counter() - t0
            result.steps = step + 1
            if recorder is not None:
                recorder.step(record)
            agent.observe(record)
            if terminated or truncated:
                success = info.get("success", terminated and reward > 0)
                result.success = None if success is None else bool(success)
                break
        else:  # cut by the step cap: a failure, unless the env cannot tell success at all
            result.success = None if info.get("success", False) is None else False
        result.metrics = episode_metrics(env, info)
    except Exception as exc:
        result.error = describe_error(exc)
    finally:
        if recorder is not None:
            recorder.close()
        if env is not None:
            try:
                call_with_timeout(env.close, 10.0)
            except Exception:
                pass
        call_with_timeout.close()
    result.tokens_in, result.tokens_out, result.model_seconds = usage.tokens_in, usage.tokens_out, usage.latency
    result.tokens_cached = usage.tokens_cached
    result.seconds = time.perf_counter() - started
    try:
        agent.end(result)
    except Exception as exc:
        result.error = result.error or f"agent.end failed: {describe_error(exc)}"
    return result
