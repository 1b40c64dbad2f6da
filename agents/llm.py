"""The model-driven agent behind the survey's four types: perceive, recall, plan.

One loop serves all four LMA types; they differ only in the model and in how long-term memory is
wired (``memory_mode``):

* ``"none"``: no long-term memory (Types I and II); recent steps stay in the prompt (``history``:
  by default as many as the planner was trained with, :func:`lma.planning.prompt.planner_history`).
* ``"tool"``: memory is reached indirectly (Type III): ``recall(query)`` and ``remember(note)``
  are offered to the planner as agent-side tools; calling one does not step the env, the result
  is added to the prompt and the planner is asked again (at most ``max_inner_calls`` times).
* ``"native"``: memory is native (Type IV): the loop recalls the most relevant memories every step,
  and at the first step looks for a stored skill for this very task and start; while the
  observations match the skill's, its actions are replayed without asking the model.

Both long-term modes write the episode (experience, reflection, and on success the skill) when it
ends (:mod:`lma.agents.experience`); they differ in how the planner reaches memory.

A greedy planner that meets the same observation again answers it the same way, so an agent in a
loop stays in it to the step limit; ``max_repeats`` (off at 0) rules out, at an observation, the calls
already made there that many times (:func:`lma.planning.prompt.repeated_calls`), and the planner
takes its next-best choice without any change to its prompt.

The prompt for a step is assembled by :func:`lma.planning.prompt.plan_input` from the episode's
past :class:`~lma.planning.prompt.Turn` s (what the planner read, the call, its outcome):
``lma finetune`` rebuilds training prompts with the same function, so a fine-tuned planner is
trained on exactly the prompts it is asked at inference.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from lma.agents.base import Agent
from lma.agents.experience import SkillReplay, episode_memories, format_memory
from lma.core import Decision, EpisodeResult, Observation, StepRecord, Task, ToolResult
from lma.memory import Memory, MemoryItem, make_memory
from lma.models.base import ChatModel, load_model
from lma.perception.base import make_perceiver
from lma.planning.planner import Planner
from lma.planning.prompt import Turn, plan_input, planner_history
from lma.tools.base import Tool, tool

MEMORY_MODES = ("none", "tool", "native")


class LLMAgent(Agent):
    """An agent whose planner is a chat model; see the module docstring for ``memory_mode``."""

    def __init__(
        self,
        model: str | ChatModel | None = None,
        *,
        name: str = "llm",
        perceiver: str = "passthrough",
        memory: str | Memory | None = None,
        memory_mode: str = "none",
        history: int | None = None,
        recall_k: int = 3,
        retries: int = 2,
        max_tokens: int = 128,
        temperature: float = 0.0,
        max_inner_calls: int = 2,
        max_repeats: int = 0,
        survey_type: str = "-",
        wiring: str = "",
    ):
        if memory_mode not in MEMORY_MODES:
            raise ValueError(f"memory_mode must be one of {MEMORY_MODES}")
        self.name, self.survey_type, self.wiring = name, survey_type, wiring
        self.model_spec = model if isinstance(model, str) or model is None else model.name
        self.model = load_model(model)
        self.perceiver = make_perceiver(perceiver)
        self.memory_spec = memory if isinstance(memory, str) or memory is None else memory.name
        self.memory = make_memory(memory if memory_mode != "none" else "none")
        self.memory_mode, self.recall_k = memory_mode, recall_k
        self.history_size = planner_history(self.model_spec, history)
        self.max_inner_calls, self.max_repeats = max_inner_calls, max_repeats
        self.planner = Planner(self.model, retries=retries, max_tokens=max_tokens, temperature=temperature)
        self.turns: list[Turn] = []
        self.steps: list[StepRecord] = []
        self._read = ""  # what the planner read this step: the turn's observation
        self.replay = SkillReplay()

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model_spec,
            "perceiver": self.perceiver.name,
            "memory": self.memory_spec,
            "memory_mode": self.memory_mode,
            "history": self.history_size,
            **({"max_repeats": self.max_repeats} if self.max_repeats else {}),  # off: as configs were before it
        }

    def reset(self, task: Task, env: gym.Env) -> None:
        super().reset(task, env)
        self.turns, self.steps = [], []
        self.replay = SkillReplay()

    def memory_tools(self) -> list[Tool]:
        """The agent-side tools of Type III: the planner decides when to use memory."""
        memory, where = self.memory, {"env": self.task.env_id}

        @tool
        def recall(query: str) -> str:
            """Search your long-term memory of earlier episodes for notes relevant to the query."""
            found = memory.recall(query, k=self.recall_k, where=where)
            return "\n".join(format_memory(m) for m in found) or "nothing relevant remembered"

        @tool
        def remember(note: str) -> str:
            """Store a short note in long-term memory for future episodes."""
            memory.write(MemoryItem(note, kind="note", metadata={"env": self.task.env_id}))
            return "remembered"

        return [recall, remember]

    def act(self, obs: Observation) -> Decision:
        if self.memory_mode == "native":
            if not self.steps:
                self.replay.start(self.memory, self.task, obs.get("text", ""))
            replayed = self.replay.next(obs.get("text", ""))
            if replayed is not None:
                return Decision(replayed[0], trace=replayed[1])
        percept = self.perceiver.perceive(obs, self.model)
        env_tools: list[Tool] = list(self.env.unwrapped.tools)
        agent_tools = self.memory_tools() if self.memory_mode == "tool" else []
        recalled = []
        if self.memory_mode == "native":
            recalled = [format_memory(m) for m in self.memory.recall(percept.text, k=self.recall_k,
                                                                     where={"env": self.task.env_id})]
        self._read = percept.text
        usage, inner_calls, scratch = percept.usage, [], []  # a captioning model's tokens count too
        trace: dict[str, Any] = {"perception": percept.text, "percept": percept.data, "memories": recalled,
                                 "history": self.history_size}  # the prompt's shape, for lma finetune
        for _ in range(self.max_inner_calls + 1):
            given = plan_input(percept.text, env_tools + agent_tools, self.turns, goal=self.task.goal,
                               history=self.history_size, memories=recalled, scratch=scratch, images=percept.images,
                               max_repeats=self.max_repeats)
            if given.ruled_out:
                trace["ruled_out"] = [str(c) for c in given.ruled_out]
            plan = self.planner.plan(given)
            usage = usage + plan.usage
            trace.update(messages=plan.messages, outputs=plan.outputs)
            trace.setdefault("rejected", []).extend(plan.rejected)  # every inner plan's, for the step's count
            if plan.call is None or plan.call.name not in {t.name for t in agent_tools}:
                trace["inner_calls"] = inner_calls
                return Decision(plan.call, usage, plan.error, trace)
            result: ToolResult = next(t for t in agent_tools if t.name == plan.call.name)(**plan.call.args)
            inner_calls.append({"call": str(plan.call), "result": result.output or result.error,
                                "name": plan.call.name, "args": plan.call.args,
                                "messages": plan.messages})  # lma finetune trains on this prompt and call
            scratch.append(f"(memory) {plan.call} -> {result.output or result.error}")
            agent_tools = [t for t in agent_tools if t.name != plan.call.name]  # one use of each per step
        trace["inner_calls"] = inner_calls
        return Decision(None, usage, "planner kept calling memory tools without acting", trace)

    def observe(self, record: StepRecord) -> None:
        self.steps.append(record)
        if record.call is not None:
            self.turns.append(Turn.of(record, read=self._read or None))
        self._read = ""

    def end(self, result: EpisodeResult) -> None:
        result.retries = sum(len(r.trace.get("rejected", ())) for r in self.steps)
        if self.memory_mode != "none":
            self.memory.write_many(episode_memories(self.task, result, self.steps))

    def close(self) -> None:
        self.memory.close()
