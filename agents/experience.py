"""What a native-memory agent (Type IV) keeps from an episode, and how memories read in a prompt.

An episode becomes an *experience* (the task, the outcome, the key steps and a one-line
reflection) and, when it succeeded, a *skill*: the action sequence that solved it, retrievable by
task similarity. The reflection is rule-based, so it costs no model call and is reproducible.
"""

from __future__ import annotations

import json

from lma.core import EpisodeResult, StepRecord, Task
from lma.memory.base import MemoryItem


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
    actions = [str(s.call) for s in steps if s.call is not None]
    key_steps = ", ".join(actions[:12]) + (" ..." if len(actions) > 12 else "")
    meta = {"env": task.env_id, "task": task.goal[:200], "outcome": outcome, "steps": result.steps, "seed": task.seed}
    items = [
        MemoryItem(
            f"Task: {task.goal} | outcome: {outcome} | key steps: {key_steps} | reflection: {reflect(result, steps)}",
            kind="experience",
            metadata=meta,
        )
    ]
    if result.success and actions:
        calls = [{"name": s.call.name, "args": s.call.args} for s in steps if s.call is not None]
        items.append(MemoryItem(f"Task: {task.goal}", kind="skill", metadata={**meta, "actions": json.dumps(calls)}))
    return items


def format_memory(item: MemoryItem) -> str:
    """One line for the planner's prompt."""
    if item.kind == "skill":
        return f"[skill] {item.text} | actions: {item.metadata.get('actions', '')[:300]}"
    return f"[{item.kind}] {item.text}"
