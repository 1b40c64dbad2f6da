"""The base of web envs: a loopback site, a browser session on it, and the browser tools as actions.

A :class:`BrowserEnv` starts its own :class:`~lma.envs.web.server.LoopbackServer` and allows the
browser exactly that origin (plus any ``allow`` entries the user adds). It drives either a
:class:`~lma.tools.browser.BrowserSession` of its own (the default; closed with the env) or a
``session`` passed in, which many envs can share one after another (the env adds its origin to the
session's allowlist and removes it on close); ``session="shared"`` means the process's shared
session. A browser start costs about a second, a page load a tenth.

Subclasses implement ``_make_server()``, ``_begin(seed) -> goal`` (load the first page of a
seeded episode) and ``_judge(call, result) -> Verdict`` (read the task's outcome from the page or
from the server's state, never from the agent's claim). The observation text is the goal, the
last action's result, then the page as the session describes it; ``obs["data"]`` carries the
page's URL, title and ``elements`` (ids, boxes, roles, labels) for set-of-marks perceivers.
A failed action (a vanished element id, a refused URL, a timeout) is a normal step with
``info["error"]``; a browser that died mid-episode raises :class:`BrowserDied`, so the episode
ends as a recorded error (the runner records it) instead of an ordinary failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from lma.core import Observation, ToolCall, ToolResult
from lma.envs.base import ToolEnv
from lma.envs.spaces import Frame, observation_space
from lma.envs.web.server import LoopbackServer
from lma.errors import LmaError
from lma.tools.browser import TOOL_NAMES, BrowserConfig, BrowserSession, shared_session

RESULT_CHARS = 3000


def browser_observation_space(viewport: tuple[int, int]) -> gym.spaces.Dict:
    """Observations with screenshots of the ``(width, height)`` viewport, or None where one failed."""
    width, height = viewport
    return observation_space(Frame((height, width), optional=True))


@dataclass
class Verdict:
    """A task's judgement after one step."""

    reward: float = 0.0
    terminated: bool = False
    success: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)


class BrowserDied(LmaError):
    """The env's Chromium went away mid-episode (killed, crashed): the episode cannot go on."""


class BrowserEnv(ToolEnv):
    """A web task on a loopback site; see the module docstring."""

    tool_names: tuple[str, ...] = TOOL_NAMES
    viewport: tuple[int, int] = (800, 600)

    def __init__(self, *, session: BrowserSession | str | None = None, allow: tuple[str, ...] | list[str] = (),
                 browser: dict[str, Any] | None = None):
        super().__init__()
        if session == "shared":
            session = shared_session()
        elif isinstance(session, str):
            raise LmaError(f"session must be a BrowserSession, 'shared' or None, not {session!r}")
        self.server = self._make_server().start()
        self._owns_session = session is None
        self._allowed = (self.server.origin, *allow)
        if session is None:
            config = BrowserConfig(allow=self._allowed, viewport=self.viewport)
            session = BrowserSession(config, **(browser or {}))
        else:
            for entry in self._allowed:
                session.allow(entry)
        self.session = session
        self.tools = session.tools(self.tool_names)
        self.observation_space = browser_observation_space(self.viewport)
        self.goal = ""
        self.metrics: dict[str, Any] = {}

    # -- what subclasses implement ---------------------------------------------------------
    def _make_server(self) -> LoopbackServer:
        raise NotImplementedError

    def _begin(self, seed: int) -> str:
        """Start a seeded episode (load its first page) and return the goal in words."""
        raise NotImplementedError

    def _judge(self, call: ToolCall, result: ToolResult) -> Verdict:
        raise NotImplementedError

    # -- the ToolEnv contract --------------------------------------------------------------
    def _reset(self, seed: int | None) -> tuple[Observation, dict[str, Any]]:
        if seed is None:
            seed = int(self.np_random.integers(2**31 - 1))
        self.metrics = {}
        self.goal = self._begin(seed)
        return self._observe(None, None), {"goal": self.goal}

    def _act(self, call: ToolCall) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        result = self.tool(call.name)(**call.args)
        verdict = self._judge(call, result)
        self.metrics.update(verdict.metrics)
        info: dict[str, Any] = {"result": result.output if result.ok else result.error}
        if not result.ok:
            info["error"] = result.error
        if result.data.get("refused"):
            info["refused"] = result.data["refused"]
        if not verdict.terminated and not self.session.alive:
            raise BrowserDied(f"the browser died during {call.name} ({info['result']})")
        if verdict.terminated:
            info["success"] = verdict.success
        return self._observe(call, result), verdict.reward, verdict.terminated, False, info

    def _observe(self, call: ToolCall | None, result: ToolResult | None) -> Observation:
        page = self.session.observe()
        lines = [f"Task: {self.goal}"]
        if call is not None and result is not None:
            said = result.output if result.ok else f"error: {result.error}"
            if len(said) > RESULT_CHARS:
                said = said[:RESULT_CHARS] + " ..."
            lines.append(f"Last action: {call} -> {said}")
        lines.append(page["text"])
        data = {**page["data"], "goal": self.goal}
        return {"text": "\n".join(lines), "image": page["image"], "data": data}

    def episode_metrics(self) -> dict[str, Any]:
        return dict(self.metrics)

    def close(self) -> None:
        self.server.stop()
        if self._owns_session:
            self.session.close()
        else:
            for entry in self._allowed:
                self.session.disallow(entry)
