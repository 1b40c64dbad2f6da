"""The model-driven agent behind the survey's four types: perceive, recall, plan.

One loop serves all four LMA types; they differ only in the model and in how long-term memory is
wired (``memory_mode``):

* ``"none"``: no long-term memory (Types I and II); recent steps stay in the prompt (``history``).
* ``"tool"``: memory is reached indirectly (Type III): ``recall(query)`` and ``remember(note)``
  are offered to the planner as agent-side tools; calling one does not step the env, the result
  is added to the prompt and the planner is asked again (at most ``max_inner_calls`` times).
* ``"native"``: memory is native (Type IV): the loop recalls the most relevant memories every step,
  and at the first step looks for a stored skill for this very task and start; while the
  observations match the skill's, its actions are replayed without asking the model.

Both long-term modes write the episode (experience, reflection, and on success the skill) when it
ends (:mod:`lma.agents.experience`); they differ in how the planner reaches memory.

The prompt for a step is assembled by :func:`plan_input` alone, with past steps written by
:func:`history_line`: ``lma finetune`` rebuilds training prompts with the same two functions, so a
fine-tuned planner is trained on exactly the prompts it is asked at inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from lma.agents.base import Agent
from lma.agents.experience import SkillReplay, episode_memories, format_memory
from lma.core import Decision, EpisodeResult, Observation, StepRecord, Task, ToolResult, Usage
from lma.memory import Memory, MemoryItem, make_memory
from lma.models.base import ChatModel, load_model
from lma.perception.base import make_perceiver
from lma.planning.planner import PlanInput, Planner
from lma.tools.base import Tool, tool

MEMORY_MODES = ("none", "tool", "native")
DEFAULT_HISTORY = 4


def history_line(record: StepRecord) -> str:
    """How one past step reads in the planner's prompt."""
    outcome = record.error or record.result or "ok"
    return f"{record.step}. {record.call} -> {outcome[:160]}"


def plan_input(observation: str, tools: Sequence[Tool], history: Sequence[str], *,
               history_size: int = DEFAULT_HISTORY, memories: Sequence[str] = (), scratch: Sequence[str] = (),
               images: tuple = ()) -> PlanInput:
    """The planner's input for one step: the last ``history_size`` history lines, then this
    step's agent-side tool results (``scratch``), the recalled ``memories`` and the observation."""
    recent = list(history[-history_size:]) if history_size > 0 else []
    return PlanInput(observation=observation, tools=list(tools), history=recent + list(scratch),
                     memories=list(memories), images=images)


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
        history: int = DEFAULT_HISTORY,
        recall_k: int = 3,
        retries: int = 2,
        max_tokens: int = 128,
        temperature: float = 0.0,
        max_inner_calls: int = 2,
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
        self.memory_mode, self.history_size, self.recall_k = memory_mode, history, recall_k
        self.max_inner_calls = max_inner_calls
        self.planner = Planner(self.model, retries=retries, max_tokens=max_tokens, temperature=temperature)
        self.history: list[str] = []
        self.steps: list[StepRecord] = []
        self.replay = SkillReplay()

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model_spec,
            "perceiver": self.perceiver.name,
            "memory": self.memory_spec,
            "memory_mode": self.memory_mode,
            "history": self.history_size,
        }

    def reset(self, task: Task, env: gym.Env) -> None:
        super().reset(task, env)
        self.history, self.steps = [], []
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
        usage, inner_calls, scratch = percept.usage, [], []  # a captioning model's tokens count too
        trace: dict[str, Any] = {"perception": percept.text, "percept": percept.data, "memories": recalled}
        for _ in range(self.max_inner_calls + 1):
            given = plan_input(percept.text, env_tools + agent_tools, self.history, history_size=self.history_size,
                               memories=recalled, scratch=scratch, images=percept.images)
            plan = self.planner.plan(given)
            usage = usage + plan.usage
            trace.update(messages=plan.messages, outputs=plan.outputs)
            if plan.call is None or plan.call.name not in {t.name for t in agent_tools}:
                trace["inner_calls"] = inner_calls
                return Decision(plan.call, usage, plan.error, trace)
            result: ToolResult = next(t for t in agent_tools if t.name == plan.call.name)(**plan.call.args)
            inner_calls.append({"call": str(plan.call), "result": result.output or result.error})
            scratch.append(f"(memory) {plan.call} -> {result.output or result.error}")
            agent_tools = [t for t in agent_tools if t.name != plan.call.name]  # one use of each per step
        trace["inner_calls"] = inner_calls
        return Decision(None, usage, "planner kept calling memory tools without acting", trace)

    def observe(self, record: StepRecord) -> None:
        self.steps.append(record)
        self.history.append(history_line(record))

    def end(self, result: EpisodeResult) -> None:
        if self.memory_mode != "none":
            self.memory.write_many(episode_memories(self.task, result, self.steps))

    def close(self) -> None:
        self.memory.close()
