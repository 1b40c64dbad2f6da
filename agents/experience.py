"""What a long-term-memory agent keeps from an episode, and how memories read in a prompt.

An episode becomes an *experience* (the task, the outcome, the key steps and a one-line
reflection) and, when it succeeded, a *skill*: the action sequence that solved it, with a hash of
the observation the agent saw before each action, so that the skill can be replayed step by step
while the world looks the same (:class:`SkillReplay`). The reflection is rule-based, so it costs
no model call and is reproducible.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lma.core import EpisodeResult, StepRecord, Task, ToolCall
from lma.memory.base import Memory, MemoryItem


def observation_key(text: str) -> str:
    """A short stable hash of an observation's text: how a skill recognises a state."""
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def reflect(result: EpisodeResult, steps: list[StepRecord]) -> str:
    """A short lesson from the outcome: what worked, or where it went wrong."""
    failed = [s for s in steps if s.error]
    if result.success:
        return f"Succeeded in {result.steps} steps; repeating this action sequence should work again."
    if failed:
        return f"Failed; {len(failed)} step(s) went wrong, first: {failed[0].error[:120]}"
    return f"Failed after {result.steps} steps without reaching the goal; try a different approach."


def episode_memories(task: Task, result: EpisodeResult, steps: list[StepRecord]) -> list[MemoryItem]:
    """The experience (and, on success, the skill) to store for one finished episode."""
    outcome = "success" if result.success else "failure"
    acted = [s for s in steps if s.call is not None]
    actions = [str(s.call) for s in acted]
    key_steps = ", ".join(actions[:12]) + (" ..." if len(actions) > 12 else "")
    meta = {"env": task.env_id, "task": task.goal[:200], "outcome": outcome, "steps": result.steps, "seed": task.seed}
    items = [
        MemoryItem(
            f"Task: {task.goal} | outcome: {outcome} | key steps: {key_steps} | reflection: {reflect(result, steps)}",
            kind="experience",
            metadata=meta,
        )
    ]
    if result.success and acted:
        replay = [{"obs": observation_key(s.observation), "name": s.call.name, "args": s.call.args} for s in acted]
        items.append(MemoryItem(
            f"Task: {task.goal}", kind="skill",
            metadata={**meta, "start": replay[0]["obs"], "actions": json.dumps([str(s.call) for s in acted]),
                      "replay": replay},
        ))
    return items


def format_memory(item: MemoryItem) -> str:
    """One line for the planner's prompt."""
    if item.kind == "skill":
        return f"[skill] {item.text} | actions: {item.metadata.get('actions', '')[:300]}"
    return f"[{item.kind}] {item.text}"


class SkillReplay:
    """Replays a stored skill for the same task while each observation matches the recorded one.

    ``start(memory, task, observation)`` looks for a successful skill of this env whose first
    observation is this one and whose task text is this goal; ``next(observation)`` then returns
    the recorded action for that step, or None (and stops for good) as soon as the observation
    differs or the skill runs out: the planner takes over from there.
    """

    def __init__(self) -> None:
        self.skill: MemoryItem | None = None
        self.step = 0

    def start(self, memory: Memory, task: Task, observation: str) -> MemoryItem | None:
        where = {"env": task.env_id, "kind": "skill", "outcome": "success", "start": observation_key(observation)}
        found = [s for s in memory.recall(task.goal, k=3, where=where) if s.metadata.get("task") == task.goal[:200]]
        self.skill, self.step = (found[0] if found else None), 0
        return self.skill

    def next(self, observation: str) -> tuple[ToolCall, dict[str, Any]] | None:
        if self.skill is None:
            return None
        replay = self.skill.metadata.get("replay", [])
        if self.step >= len(replay) or replay[self.step]["obs"] != observation_key(observation):
            self.skill = None
            return None
        recorded = replay[self.step]
        trace = {"replayed_skill": self.skill.id, "skill_step": self.step}
        self.step += 1
        return ToolCall(recorded["name"], recorded["args"]), trace
