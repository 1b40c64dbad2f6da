"""One episode: the loop of DESIGN.md, with time limits, recording and seeds.

:func:`run_episode` never raises for what happens inside the episode: an env that fails to build,
reset or step, a step that hangs past ``step_timeout``, an agent that fails, or an episode past
``episode_timeout`` all end the episode with ``error`` set, so the next episode still runs.

With a ``step_timeout``, the episode runs on a thread of its own and the caller watches it (see
:class:`CallWatch`): every env call of the episode (make, reset, step, close) is timed, and one
that hangs past its limit is abandoned with its thread (the env is then closed from another
thread, as far as it can be). The loop itself runs on that one thread, env and agent alike, so a
step costs no hand-over between threads (which cost more than a BabyAI step, and several
milliseconds each on a busy machine), and all env calls come from one thread (Playwright's sync
API is bound to the thread that started it). For a hard guarantee run episodes in worker
processes (:mod:`lma.run.evaluate`), which are killed at the episode limit.

The step limit is the task's ``max_steps``, else the env's own (``env.unwrapped.max_episode_steps``,
e.g. MiniGrid's), else :data:`DEFAULT_MAX_STEPS`. Success is the last step's ``info["success"]``;
None there means the env cannot tell (a wrapped Gymnasium env without a rule), and the episode's
success is then None, unknown, rather than a failure.

Frames cost only when read: each observation is released (:func:`lma.envs.observation.release`)
as it arrives, so a lazy frame is rendered only if the agent's perceiver or the recorder (when it
records frames) reads it during the step; an agent that keeps an observation to look at its frame
after the env has moved on must read (or copy) it in ``act``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import gymnasium as gym

from lma.agents.base import Agent
from lma.core import Decision, EpisodeResult, StepRecord, Task, Usage, goal_of
from lma.envs import make
from lma.envs.observation import release
from lma.errors import describe_error
from lma.run.recording import EpisodeRecorder, episode_id

T = TypeVar("T")
DEFAULT_MAX_STEPS = 64
CLOSE_TIMEOUT = 10.0  # seconds an env may take to close


class StepTimeout(Exception):
    pass


class _Abandoned(BaseException):
    """Ends an episode's thread once its watcher gave up on it: nothing more may be touched."""


class CallWatch:
    """Times the env calls of an episode running on its own thread, for a watcher on another.

    ``watch(fn, limit, what)`` runs ``fn()`` right here (no thread hand-over) and notes its
    deadline; :meth:`overdue`, called by the watcher, gives the episode up once a call is past it.
    A call that returns after that raises :class:`_Abandoned` instead of returning, so the
    abandoned thread never touches the agent, the recorder or the env again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._call: tuple[float, str] = (0.0, "")
        self.abandoned = False

    def __call__(self, fn: Callable[[], T], limit: float | None, what: str) -> T:
        with self._lock:
            if self.abandoned:
                raise _Abandoned
            self._deadline = None if limit is None else time.monotonic() + limit
            self._call = (limit or 0.0, what)
        try:
            return fn()
        finally:
            with self._lock:
                self._deadline = None
                if self.abandoned:
                    raise _Abandoned

    def overdue(self) -> tuple[float, str] | None:
        """``(limit, what)`` of the call in progress if it is past its deadline (the episode is then
        given up), else None."""
        with self._lock:
            if self._deadline is not None and time.monotonic() > self._deadline:
                self.abandoned = True
                return self._call
        return None


def watched(body: Callable[[], None], watch: CallWatch, poll: float) -> tuple[float, str] | None:
    """Run ``body`` on a daemon thread (so a hung one cannot keep the process alive at exit) and
    wait for it, checking ``watch`` every ``poll`` seconds; the ``(limit, what)`` of the call it was
    given up in, or None when it finished."""
    done = threading.Event()

    def run() -> None:
        try:
            body()
        except _Abandoned:
            pass
        finally:
            done.set()

    threading.Thread(target=run, name="lma-episode", daemon=True).start()
    while not done.wait(poll):
        if (late := watch.overdue()) is not None:
            return late
    return None


def episode_metrics(env: gym.Env, info: dict[str, Any]) -> dict[str, Any]:
    """Env-specific metrics: ``env.unwrapped.episode_metrics()`` where the env defines it."""
    getter = getattr(env.unwrapped, "episode_metrics", None)
    metrics = dict(getter()) if callable(getter) else {}
    metrics.update(info.get("metrics", {}))
    return metrics


class _Episode:
    """The state of one episode, shared by the thread that runs it and the caller that watches it."""

    def __init__(self, agent: Agent, task: Task, recorder: EpisodeRecorder | None, env: gym.Env | None,
                 step_timeout: float | None, episode_timeout: float | None):
        self.agent, self.task, self.recorder, self.env = agent, task, recorder, env
        self.step_timeout, self.episode_timeout = step_timeout, episode_timeout
        self.started = time.perf_counter()
        self.result = EpisodeResult(episode_id(agent.name, task.env_id, task.seed), task.env_id, agent.name, task.seed)
        self.usage = Usage()
        self.watch = CallWatch()

    def run(self) -> None:
        """The loop of the module docstring; errors end up in ``self.result.error``."""
        agent, task, recorder, result, call = self.agent, self.task, self.recorder, self.result, self.watch
        info: dict[str, Any] = {}
        try:
            if self.env is None:
                self.env = call(lambda: make(task.env_id, **task.env_kwargs), self.step_timeout, "make")
            env = self.env
            obs, info = call(lambda: env.reset(seed=task.seed), self.step_timeout, "reset")
            release(obs)
            task.goal = task.goal or goal_of(obs)
            agent.reset(task, env)
            max_steps = task.max_steps or getattr(env.unwrapped, "max_episode_steps", None) or DEFAULT_MAX_STEPS
            for step in range(max_steps):
                if self.episode_timeout is not None and time.perf_counter() - self.started > self.episode_timeout:
                    result.error = f"episode exceeded {self.episode_timeout:g}s"
                    break
                t0 = time.perf_counter()
                decision = Decision.of(agent.act(obs))
                self.usage = self.usage + decision.usage
                record = StepRecord(step, obs.get("text", ""), decision.call, usage=decision.usage,
                                    error=decision.error, trace=decision.trace)
                if recorder is not None and recorder.record_frames:
                    record.frame = recorder.frame(step, obs.get("image"))
                terminated = truncated = False
                if decision.call is not None:
                    action = decision.call
                    obs, reward, terminated, truncated, info = call(lambda: env.step(action), self.step_timeout, "step")
                    release(obs)
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
        self.close(lambda fn: call(fn, CLOSE_TIMEOUT, "close"))

    def close(self, call_with_limit: Callable[[Callable[[], Any]], Any]) -> None:
        """Close the recorder (a frame it could not save is the episode's error) and the env."""
        if self.recorder is not None:
            try:
                self.recorder.close()
            except Exception as exc:
                self.result.error = self.result.error or describe_error(exc)
        if self.env is not None:
            try:
                call_with_limit(self.env.close)
            except Exception:
                pass


def _close_elsewhere(fn: Callable[[], Any]) -> None:
    """Run ``fn`` on a fresh daemon thread, waiting at most :data:`CLOSE_TIMEOUT` seconds for it."""
    worker = threading.Thread(target=fn, name="lma-env-close", daemon=True)
    worker.start()
    worker.join(CLOSE_TIMEOUT)


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
    episode = _Episode(agent, task, recorder, env, step_timeout, episode_timeout)
    if step_timeout is None:
        episode.run()
    else:
        late = watched(episode.run, episode.watch, poll=min(0.25, step_timeout / 4))
        if late is not None:
            limit, what = late
            if what != "close":  # an env that hangs as it closes has still finished its episode
                episode.result.error = describe_error(StepTimeout(f"no answer within {limit:g}s"))
                episode.close(_close_elsewhere)
    result, usage = episode.result, episode.usage
    result.tokens_in, result.tokens_out, result.model_seconds = usage.tokens_in, usage.tokens_out, usage.latency
    result.tokens_cached = usage.tokens_cached
    result.seconds = time.perf_counter() - episode.started
    try:
        agent.end(result)
    except Exception as exc:
        result.error = result.error or f"agent.end failed: {describe_error(exc)}"
    return result
