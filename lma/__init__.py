"""lma: a framework for Large Multimodal Agents.

An agent perceives (:mod:`lma.perception`), plans (:mod:`lma.planning`, over a
:class:`lma.models.ChatModel`), acts through tools on an env (:mod:`lma.envs`, :mod:`lma.tools`)
and remembers (:mod:`lma.memory`); :func:`lma.runner.run_episode` runs one episode.

>>> import lma
>>> env = lma.make("babyai/GoToRedBall-v0")            # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                       # doctest: +SKIP
"""

from lma.core import Decision, EpisodeResult, Observation, StepRecord, Task, ToolCall, ToolResult, Usage
from lma.registry import LmaError, UnknownNameError, make, register

__version__ = "0.1.0"
__all__ = [
    "Decision", "EpisodeResult", "LmaError", "Observation", "StepRecord", "Task", "ToolCall",
    "ToolResult", "UnknownNameError", "Usage", "make", "register",
]
