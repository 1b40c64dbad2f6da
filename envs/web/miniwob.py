"""MiniWoB++ tasks, served from the ``miniwob`` wheel on loopback and driven through lma's browser.

The task pages ship inside the PyPI package ``miniwob`` (``miniwob/html/miniwob/<task>.html``,
and the FlightWoB sites under ``miniwob/html/flight/<site>/wrapper.html``); this module serves
that folder from a :class:`LoopbackServer` and plays them through
:class:`~lma.tools.browser.BrowserSession`, not selenium. Every task found there is registered
as ``miniwob/<task>-v0`` (``miniwob/flight.<site>-v0`` for FlightWoB) without importing
anything heavy.

An episode: load the task page, ``Math.seedrandom(seed)``, ``core.setDataMode(mode)``,
``core.startEpisodeReal()``; the goal is ``core.getUtterance()``. After every action the page's
own result globals are read: the episode ends when ``WOB_DONE_GLOBAL`` is set (the page's own
timer also ends it, after 10 s of real time unless ``time_limit`` says otherwise). The reward is
the page's time-decayed ``WOB_REWARD_GLOBAL``; success means ``WOB_RAW_REWARD_GLOBAL > 0``; both
are kept in the episode metrics (``raw_reward``, ``reward``, ``reason``). Actions are the browser
tools without navigation (click, type, select, press, scroll, read), as in MiniWoB++ itself.

``expert_action()`` is a scripted solver (:mod:`lma.envs.web.miniwob_experts`) for the tasks
it knows; it reads the utterance and the element list and is named as such in results.
"""

from __future__ import annotations

import time
from typing import Any

from lma.core import ToolCall, ToolResult
from lma.envs.web.base import BrowserEnv, Verdict, browser_observation_space
from lma.envs.web.registration import html_dir, task_names
from lma.envs.web.server import LoopbackServer
from lma.errors import LmaError

MINIWOB_VIEWPORT = (160, 210)  # the task area of every MiniWoB++ page (#wrap)
FLIGHT_VIEWPORT = (375, 667)  # FlightWoB: the site's frame; the harness panel beside it (instruction,
# real-time countdown, last reward) is left out, as every MiniWoB++ page's reward display is
TOOLS = ("click", "type", "select", "press", "scroll", "read")
_RESULT_JS = """() => ({done: WOB_DONE_GLOBAL, reward: WOB_REWARD_GLOBAL, raw: WOB_RAW_REWARD_GLOBAL,
                        reason: WOB_REWARD_REASON == null ? null : String(WOB_REWARD_REASON),
                        url: location.href})"""
_START_JS = """([seed, mode, limit]) => {
  Math.seedrandom(seed); core.setDataMode(mode);
  if (limit) core.EPISODE_MAX_TIME = limit;
  core.startEpisodeReal();
  return WOB_TASK_READY;
}"""


class MiniWoBEnv(BrowserEnv):
    """One MiniWoB++ task; ``session`` may be shared with other envs (see :class:`BrowserEnv`).

    ``task`` can also be changed between episodes with :meth:`set_task`, which is how one env
    can reset every task in turn without a new browser.
    """

    tool_names = TOOLS

    def __init__(self, task: str, *, mode: str = "default", time_limit: float | None = None, **kwargs: Any):
        self.mode, self.time_limit = mode, time_limit
        self.set_task(task)
        super().__init__(**kwargs)
        self._expert_plan: list[ToolCall] | None = None
        self._done = False

    def set_task(self, task: str) -> None:
        """Switch to another task; takes effect at the next ``reset`` (``observation_space`` at once)."""
        known = task_names()
        if task not in known:
            from lma.errors import UnknownNameError

            raise UnknownNameError("MiniWoB++ task", task, known)
        self.task = task
        if task.startswith("flight."):
            self.path, self.viewport = f"/flight/{task.split('.', 1)[1]}/wrapper.html", FLIGHT_VIEWPORT
        else:
            self.path, self.viewport = f"/miniwob/{task}.html", MINIWOB_VIEWPORT
        self.observation_space = browser_observation_space(self.viewport)

    def _make_server(self) -> LoopbackServer:
        root = html_dir()
        if root is None:
            raise LmaError("MiniWoB++ needs the `miniwob` package: pip install 'lma[web]'")
        return LoopbackServer(static_dir=root)

    def _begin(self, seed: int) -> str:
        self._expert_plan, self._done = None, False
        self.session.load(self.server.url(self.path), viewport=self.viewport)
        limit = int(self.time_limit * 1000) if self.time_limit else None
        ready = self.session.evaluate(_START_JS, [seed, self.mode, limit])
        deadline = time.monotonic() + 5.0
        while not ready and time.monotonic() < deadline:  # FlightWoB loads its site into a frame
            time.sleep(0.05)
            ready = self.session.evaluate("() => WOB_TASK_READY")
        utterance = self.session.evaluate("() => core.getUtterance()")
        if isinstance(utterance, dict):
            utterance = utterance.get("utterance", "")
        self.metrics = {"raw_reward": 0.0, "reward": 0.0, "reason": None}
        return str(utterance)

    def _judge(self, call: ToolCall, result: ToolResult) -> Verdict:
        try:
            state = self.session.evaluate(_RESULT_JS)
        except Exception as exc:  # the page is gone (navigated away, browser closed): a failed episode
            return Verdict(0.0, True, False, {"raw_reward": 0.0, "reward": 0.0, "reason": f"page lost: {exc}"})
        if not state["url"].startswith(self.server.url(self.path)):
            return Verdict(0.0, True, False, {"raw_reward": 0.0, "reward": 0.0, "reason": "left the task page"})
        if not state["done"] or self._done:
            return Verdict()
        self._done = True
        raw, reward = float(state["raw"]), float(state["reward"])
        return Verdict(reward, True, raw > 0, {"raw_reward": raw, "reward": reward, "reason": state["reason"]})

    def expert_action(self) -> ToolCall:
        """The next action of the scripted solver for this task (see miniwob_experts)."""
        from lma.envs.web.miniwob_experts import plan

        if self._expert_plan is None:
            self._expert_plan = plan(self.task, self.goal, self._last_obs["data"].get("elements", []))
        if not self._expert_plan:
            raise LmaError(f"the scripted solver for {self.task} has no action left")
        return self._expert_plan.pop(0)
