"""Training data for ``lma finetune``: successful trajectories -> (planner prompt, tool call) pairs.

Each step of a successful episode becomes one chat-format example: the prompt is exactly what the
planner is asked at that step at inference, the target is the tool call as the planner's JSON
(``{"name": ..., "args": {...}}``). Where the trajectory recorded the planner's prompt (runs of
LLM agents keep it in ``trace["messages"]``) that prompt is used as is. Where it did not (the
``expert`` agent has no prompt), the episode is replayed in its env from its seed, and the prompt
is rebuilt at every step with :func:`lma.agents.llm.plan_input` and
:meth:`lma.planning.Planner.messages`, the same functions the agent calls, with the history
lines of the recorded steps (:func:`lma.agents.llm.history_line`) and the passthrough perceiver's
text (the observation's text). The replay checks each observation against the recorded one, so
a trajectory from another version of the env is refused rather than trained on wrong prompts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lma.core import EpisodeResult, StepRecord, ToolCall
from lma.models.base import Message
from lma.run.recording import RunDir
from lma.errors import LmaError


class TrainingDataError(LmaError):
    """Trajectories that give no usable training data, or data that does not fit its env."""


@dataclass
class Example:
    """One supervised step: the planner's prompt and the tool call it should answer."""

    messages: list[Message]
    target: str
    source: str


def target_text(call: ToolCall) -> str:
    """The planner's answer for ``call``, as the JSON the constrained decoder produces."""
    return json.dumps({"name": call.name, "args": call.args}, ensure_ascii=False)


def _call(row: dict[str, Any]) -> ToolCall | None:
    call = row.get("call")
    return ToolCall(call["name"], call.get("args") or {}) if call else None


def _history_record(row: dict[str, Any]) -> StepRecord:
    return StepRecord(row["step"], row.get("observation", ""), _call(row), error=row.get("error"),
                      result=row.get("result", ""))


def recorded_examples(rows: list[dict[str, Any]], source: str) -> list[Example] | None:
    """Examples from the prompts a model-driven agent recorded; None when some step has none."""
    examples = []
    for row in rows:
        call, messages = _call(row), row.get("trace", {}).get("messages")
        if call is None:
            continue
        if not messages:
            return None
        examples.append(Example(messages, target_text(call), f"{source}#{row['step']}"))
    return examples


def replayed_examples(rows: list[dict[str, Any]], env_id: str, seed: int, source: str,
                      history_size: int) -> list[Example]:
    """Examples with prompts rebuilt by replaying the episode; see the module docstring."""
    from lma.agents.llm import history_line, plan_input
    from lma.planning.planner import Planner
    from lma.envs import make
    from lma.tools.base import validate_call

    prompt = Planner(model=None)  # only its messages() is used: no model is called
    env = make(env_id)
    try:
        obs, _ = env.reset(seed=seed)
        history: list[str] = []
        examples = []
        for row in rows:
            where = f"{source} step {row['step']}"
            if row.get("observation", "") != obs.get("text", ""):
                raise TrainingDataError(f"{where}: the replayed observation differs from the recorded one "
                                        f"(a different env version or non-deterministic env?)")
            call = _call(row)
            if call is not None:
                tools = list(env.unwrapped.tools)
                problem = validate_call(call, tools)
                if problem:
                    raise TrainingDataError(f"{where}: recorded call {call} does not fit the env's tools: {problem}")
                messages = prompt.messages(plan_input(obs.get("text", ""), tools, history, history_size=history_size))
                examples.append(Example(messages, target_text(call), f"{source}#{row['step']}"))
                obs, *_ = env.step(call)
            history.append(history_line(_history_record(row)))
        return examples
    finally:
        env.close()


def episode_examples(run: RunDir, result: EpisodeResult, history_size: int) -> list[Example]:
    rows = run.trajectory(result.episode_id)
    source = f"{run.path.name}/{result.episode_id}"
    recorded = recorded_examples(rows, source)
    if recorded is not None:
        return recorded
    return replayed_examples(rows, result.env, result.seed, source, history_size)


def save_examples(examples: list[Example], path: str | Path) -> None:
    """Write examples as JSON lines (``messages``, ``target``, ``source``): data to inspect, or to
    train on another machine with ``lma finetune --from FILE.jsonl``."""
    with open(path, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps({"messages": e.messages, "target": e.target, "source": e.source}, ensure_ascii=False) + "\n")


def load_examples(path: str | Path) -> list[Example]:
    examples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
            examples.append(Example(row["messages"], row["target"], row.get("source", f"{path}:{number}")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise TrainingDataError(f"{path}:{number}: not an lma training example ({exc})") from None
    return examples


def collect_examples(sources: list[str | Path], history_size: int) -> tuple[list[Example], int]:
    """All examples of the successful episodes in run folders (or saved by :func:`save_examples`
    in ``.jsonl`` files), and how many episodes gave them."""
    examples: list[Example] = []
    episodes = 0
    for path in sources:
        if str(path).endswith(".jsonl"):
            if not Path(path).is_file():
                raise TrainingDataError(f"training data file not found: {path}")
            loaded = load_examples(path)
            examples += loaded
            episodes += len({e.source.rsplit("#", 1)[0] for e in loaded})
            continue
        run = RunDir.open(path)
        for result in run.results():
            if not result.success or result.error:
                continue
            found = episode_examples(run, result, history_size)
            episodes += bool(found)
            examples += found
    if not examples:
        raise TrainingDataError(f"no successful episode with steps in {', '.join(map(str, sources))}: "
                                "record some first, e.g. `lma run --agent expert --env ENV --episodes 50`")
    return examples, episodes
