"""lma: a framework for Large Multimodal Agents.

An agent perceives (:mod:`lma.perception.base`), plans (:mod:`lma.planning.planner`, over a
:class:`lma.models.ChatModel`), acts through tools on an env (:mod:`lma.envs`, :mod:`lma.tools`)
and remembers (:mod:`lma.memory`); :func:`lma.run.runner.run_episode` runs one episode.

>>> import lma
>>> env = lma.make("babyai/GoToRedBall-v0")            # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                       # doctest: +SKIP
"""

from lma.core import Decision, EpisodeResult, Observation, StepRecord, Task, ToolCall, ToolResult, Usage
from lma.errors import LmaError, UnknownNameError
from lma.registry import register


def make(id: str, **kwargs):  # noqa: ANN201 - a gymnasium.Env; imported late so `import lma` stays light
    """Make an env by id, like ``gymnasium.make`` (:func:`lma.envs.make`)."""
    from lma.envs import make as make_env

    return make_env(id, **kwargs)


__version__ = "0.1.0"
__all__ = [
    "Decision", "EpisodeResult", "LmaError", "Observation", "StepRecord", "Task", "ToolCall",
    "ToolResult", "UnknownNameError", "Usage", "make", "register",
]
