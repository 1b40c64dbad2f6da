"""Envs for the evaluation tests, registered on import (``lma eval --import eval_envs``), so that
spawned workers and Ray tasks, which start with fresh registries, know them too."""

from __future__ import annotations

import os
import signal
import time

import faulty_envs
from faulty_envs import FaultyEnv

from lma.registry import envs


class CrashEnv(FaultyEnv):
    """Kills its own process on the first step, as a segfaulting simulator would."""

    def _act(self, call):
        os.kill(os.getpid(), signal.SIGKILL)


class SlowEnv(FaultyEnv):
    """A healthy env whose every step takes ``delay`` seconds (keeps a run busy long enough to kill)."""

    def __init__(self, delay: float = 0.15, goal: int = 3):
        super().__init__(goal=goal)
        self.delay = delay

    def _act(self, call):
        time.sleep(self.delay)
        return super()._act(call)


faulty_envs.register_all()
envs.register("test/crash-v0", CrashEnv, overwrite=True)
envs.register("test/slow-v0", SlowEnv, overwrite=True)
