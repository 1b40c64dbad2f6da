"""Envs that misbehave on purpose, to test that a run survives them (registered by the tests)."""

from __future__ import annotations

import time

from lma.core import ToolCall
from lma.envs.base import ActionTool, ToolEnv


class FaultyEnv(ToolEnv):
    """Counts to ``goal`` on ``inc``; ``mode`` makes step raise or hang at step ``at``."""

    def __init__(self, mode: str = "ok", at: int = 1, goal: int = 3):
        super().__init__()
        self.mode, self.at, self.goal, self.count = mode, at, goal, 0
        self.tools = [ActionTool("inc", "add one to the counter"), ActionTool("noop", "do nothing")]

    def _obs(self):
        return {"text": f"Goal: reach {self.goal}. Counter: {self.count}", "image": None, "data": {}}

    def _reset(self, seed):
        if self.mode == "reset-raises":
            raise RuntimeError("reset exploded")
        self.count = 0
        return self._obs(), {}

    def _act(self, call: ToolCall):
        if self.count + 1 >= self.at and self.mode == "raise":
            raise RuntimeError("simulator exploded")
        if self.count + 1 >= self.at and self.mode == "hang":
            time.sleep(3600)
        self.count += call.name == "inc"
        done = self.count >= self.goal
        return self._obs(), float(done), done, False, {"success": done}

    def expert_action(self) -> ToolCall:
        return ToolCall("inc")


def register_all():
    from lma.registry import envs

    for mode in ("ok", "raise", "hang", "reset-raises"):
        envs.register(f"test/faulty-{mode}-v0", FaultyEnv, mode=mode, overwrite=True)
