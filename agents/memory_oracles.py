"""Oracles for the memory tasks: the env's expert with perfect memory, and the same without.

``oracle-memory`` is the upper bound of what long-term memory can give on a series env
(:mod:`lma.envs.memory_tasks.series`): at the end of each episode it writes what the episode
revealed (``env.knowledge()``: the cells it saw, the facts it read) to its memory, and at the start
of the next episode of the same series it hands everything the earlier episodes of the series
revealed to the env's expert policy (``env.use_knowledge(items)``), which then acts on it.
``oracle-no-memory`` is the same expert with memory ``none``: it starts every episode knowing
nothing, so the difference between the two is what memory is worth on that env.

Both are scripted: no model. The memory is a real lma memory (``chroma:memory-oracle`` by
default, shared by worker processes; any spec, e.g. ``window`` in one process). Only items of the
same env, series and series length from earlier errands (a smaller index) are recalled, so a store
kept from an earlier run gives the oracle nothing this run would not have given it.
"""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym

from lma.agents.base import Agent
from lma.core import Decision, Observation, StepRecord, Task
from lma.errors import LmaError
from lma.memory import Memory, MemoryItem, make_memory


class MemoryOracle(Agent):
    """The series env's expert, with (or, given memory ``none``, without) long-term memory."""

    survey_type = "oracle"

    def __init__(self, memory: str | Memory | None = "chroma:memory-oracle", *, name: str = "oracle-memory"):
        self.name = name
        self.memory_spec = memory if isinstance(memory, str) or memory is None else memory.name
        self.memory = make_memory(memory)
        self.wiring = (f"the env's expert policy; what earlier episodes of the series revealed recalled from "
                       f"{self.memory_spec or 'none'}; no model")
        self._known: dict[str, Any] = {}
        self._recalled = 0  # earlier episodes of the series recalled at reset (in every step's trace)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "memory": self.memory_spec}

    def _scope(self) -> dict[str, Any]:
        world = self.env.unwrapped
        return {"env": self.task.env_id, "series": world.series, "series_length": world.series_length}

    def reset(self, task: Task, env: gym.Env) -> None:
        super().reset(task, env)
        world = env.unwrapped
        if not callable(getattr(world, "use_knowledge", None)):
            raise LmaError(f"{self.name} plays the memory/* series envs; {task.env_id} has no series")
        found = []
        if world.index > 0:
            where = {**self._scope(), "kind": "observation", "index": list(range(world.index))}
            found = self.memory.recall(f"what series {world.series} revealed", k=world.index, where=where)
        world.use_knowledge([json.loads(item.metadata["knowledge"]) for item in found])
        self._known, self._recalled = world.knowledge(), len(found)

    def act(self, obs: Observation) -> Decision:
        return Decision(self.env.unwrapped.expert_action(),
                        trace={"policy": "scripted expert", "memory": self.memory_spec, "recalled": self._recalled})

    def observe(self, record: StepRecord) -> None:
        self._known = self.env.unwrapped.knowledge()  # the env may be closed by the time end() runs

    def end(self, result: Any) -> None:
        if not self._known:
            return
        scope = {**self._scope(), "index": self.env.unwrapped.index}
        self.memory.write(MemoryItem(f"what {self.task.env_id} series {scope['series']} errand {scope['index']} revealed",
                                     kind="observation", metadata={**scope, "knowledge": json.dumps(self._known)}))

    def close(self) -> None:
        self.memory.close()


def no_memory_oracle() -> MemoryOracle:
    """``oracle-no-memory``: the same expert, every episode from nothing."""
    return MemoryOracle("none", name="oracle-no-memory")
