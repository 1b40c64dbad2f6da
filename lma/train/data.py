"""Training data for ``lma finetune``: successful (or expert-labelled) trajectories -> planner conversations.

Every step of a successful episode is supervised with exactly the prompt the planner is asked at
that step at inference (:mod:`lma.planning.prompt`) and, as target, the tool call as the planner's
JSON (``{"name": ..., "args": {...}}``). Consecutive steps whose prompts extend each other (the
prompt layout only appends between window trims) are one :class:`Example`: the conversation up to
the last of them, whose assistant messages from ``first_target`` on are the targets. One forward
pass then trains a whole block of steps, each on its own exact prompt.

Where the trajectory recorded the planner's prompt (runs of LLM agents keep it in
``trace["messages"]``, and Type III's memory-tool calls in ``trace["inner_calls"]``) that prompt
is used as is, so a Type III or IV planner is trained on the prompts its wiring makes (recalled
memories in the prompt, ``recall``/``remember`` calls as targets). Where it did not (the
``expert`` agent has no prompt), the episode is replayed in its env from its seed and the prompt is rebuilt at every step
with :func:`lma.planning.prompt.plan_input` and :func:`~lma.planning.prompt.render`, the same
functions the agent calls, from the recorded turns and the passthrough perceiver's text (the
observation's text). The replay checks each observation against the recorded one, so a
trajectory from another version of the env is refused rather than trained on wrong prompts.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lma.core import EpisodeResult, Observation, StepRecord, ToolCall, goal_of
from lma.errors import LmaError
from lma.models.base import Message
from lma.planning.prompt import DEFAULT_HISTORY, LAYOUT, Turn, call_text, plan_input, render
from lma.run.recording import RunDir


class TrainingDataError(LmaError):
    """Trajectories that give no usable training data, or data that does not fit its env."""


@dataclass
class Example:
    """A supervised conversation: the assistant messages from ``first_target`` on are targets,
    except those whose indices are in ``context_only`` (an expert's injected mistakes: shown in the
    history, never trained on)."""

    messages: list[Message]
    first_target: int
    source: str
    context_only: tuple[int, ...] = ()

    def is_target(self, index: int) -> bool:
        return (index >= self.first_target and self.messages[index]["role"] == "assistant"
                and index not in self.context_only)

    @property
    def targets(self) -> list[str]:
        return [m["content"] for i, m in enumerate(self.messages) if self.is_target(i)]


@dataclass(frozen=True)
class Step:
    """One planner step of a recorded episode: its exact prompt and the call made; ``trained`` is
    False for a call the expert did not choose (``trace["noise"]``, or a DAgger learner's call the
    expert disagreed with), and ``correction`` is then the expert's call for that state when the
    run asked for it (``trace["dagger"]``): a target of its own."""

    prompt: list[Message]
    target: str
    trained: bool = True
    correction: str | None = None


def merge_steps(steps: list[Step], source: str) -> list[Example]:
    """Steps in order -> conversations: a step whose prompt starts with the previous conversation
    (prompt + answer) extends it; any other starts a new one. A conversation whose every answer is
    context only is dropped. A step's correction is an example of its own (its prompt, the
    expert's call), after the conversation it belongs to."""
    examples: list[Example] = []
    corrections: list[Example] = []
    for index, step in enumerate(steps):
        answer: Message = {"role": "assistant", "content": step.target}
        last = examples[-1] if examples else None
        if last is not None and step.prompt[:len(last.messages)] == last.messages:
            last.messages = step.prompt + [answer]
        else:
            last = Example(step.prompt + [answer], len(step.prompt), f"{source}#{index}")
            examples.append(last)
        if not step.trained:
            last.context_only += (len(last.messages) - 1,)
        if step.correction is not None:
            label: Message = {"role": "assistant", "content": step.correction}
            corrections.append(Example(step.prompt + [label], len(step.prompt), f"{source}#{index}:expert"))
    return [e for e in examples if e.targets] + corrections


def _tool_call(recorded: dict[str, Any]) -> ToolCall:
    return ToolCall(recorded["name"], recorded.get("args") or {})


def _call(row: dict[str, Any]) -> ToolCall | None:
    return _tool_call(row["call"]) if row.get("call") else None


def _turn(row: dict[str, Any], call: ToolCall) -> Turn:
    record = StepRecord(row["step"], row.get("observation", ""), call, error=row.get("error"),
                        result=row.get("result", ""))
    return Turn.of(record)


def _labelled(row: dict[str, Any], call: ToolCall, prompt: list[Message]) -> Step:
    """The step of ``row`` (its ``call`` answering ``prompt``), trained or not: see :class:`Step`."""
    trace = row.get("trace", {})
    made = call_text(call)
    if "dagger" in trace:
        expert = call_text(_tool_call(trace["dagger"]["expert"]))
        return Step(prompt, made, made == expert, None if made == expert else expert)
    return Step(prompt, made, not trace.get("noise"))


def labelled_by_expert(rows: list[dict[str, Any]]) -> bool:
    """Whether the episode's steps carry the expert's labels (a ``dagger`` run): then it trains
    whether it succeeded or not."""
    return any("dagger" in row.get("trace", {}) for row in rows)


def recorded_steps(rows: list[dict[str, Any]]) -> list[Step] | None:
    """The prompts a model-driven agent recorded, with its calls; None when some step has none.

    A Type III step gives one example per memory-tool call it made first (``trace["inner_calls"]``,
    each with the prompt it answered and the ``recall``/``remember`` call as target; runs made
    before lma recorded those prompts give only the env call), then one for the env call. A Type IV
    prompt already holds the memories recalled for it. A step that Type IV replayed from a stored
    skill asked no planner, so it gives no example."""
    steps = []
    for row in rows:
        call, trace = _call(row), row.get("trace", {})
        if call is None or "replayed_skill" in trace:
            continue
        if not trace.get("messages"):
            return None
        for inner in trace.get("inner_calls", []):
            if inner.get("messages"):
                steps.append(Step(inner["messages"], call_text(ToolCall(inner["name"], inner.get("args") or {}))))
        steps.append(_labelled(row, call, trace["messages"]))
    return steps


def replay(rows: list[dict[str, Any]], env_id: str, seed: int, source: str,
           env_kwargs: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Observation, Any]]:
    """The episode replayed in its env from its seed: every recorded row with the observation it was
    made from (checked against the recorded text) and the env, which then takes the row's call.
    The env is closed when the replay ends, fails, or its reader stops."""
    from lma.envs import make

    env = make(env_id, **env_kwargs)
    try:
        obs, _ = env.reset(seed=seed)
        for row in rows:
            if row.get("observation", "") != obs.get("text", ""):
                raise TrainingDataError(f"{source} step {row['step']}: the replayed observation differs from the "
                                        "recorded one (a different env version or non-deterministic env?)")
            yield row, obs, env
            call = _call(row)
            if call is not None:
                obs, *_ = env.step(call)
    finally:
        env.close()


def episode_source(run: RunDir, result: EpisodeResult) -> str:
    """How training data names an episode of a run (``RUN/EPISODE_ID``; a step adds ``#STEP``)."""
    return f"{run.path.name}/{result.episode_id}"


def episode_of(source: str) -> str:
    """The episode an example's ``source`` names (:func:`episode_source`, without its ``#STEP``)."""
    return source.rsplit("#", 1)[0]


def env_kwargs_of(run: RunDir, env_id: str) -> dict[str, Any]:
    """The keyword arguments the run made ``env_id`` with (``--env-arg``): a replay makes it the same way."""
    return (run.config().get("env_args") or {}).get(env_id, {})


def replayed_episode(run: RunDir, result: EpisodeResult) -> Iterator[tuple[dict[str, Any], Observation, Any]]:
    """:func:`replay` of one recorded episode of ``run``, in its env made as the run made it."""
    return replay(run.trajectory(result.episode_id), result.env, result.seed, episode_source(run, result),
                  env_kwargs_of(run, result.env))


def replayed_frames(run: RunDir, result: EpisodeResult, key: str,
                    refusal: str) -> Iterator[tuple[str, np.ndarray, Any]]:
    """Every recorded step of one episode, replayed: its source (``RUN/EPISODE#STEP``), frame and
    ``obs["data"][key]``; an env that gives no frame with that key is refused, ``refusal`` saying why."""
    source = episode_source(run, result)
    for row, obs, _ in replayed_episode(run, result):
        value, image = (obs.get("data") or {}).get(key), obs.get("image")
        if value is None or image is None:
            raise TrainingDataError(f"{result.env} gives no frame with a data[{key!r}] {refusal}")
        yield f"{source}#{row['step']}", np.array(image), value


def replayed_steps(rows: list[dict[str, Any]], env_id: str, seed: int, source: str, history: int,
                   env_kwargs: dict[str, Any]) -> list[Step]:
    """Prompts rebuilt by replaying the episode; see the module docstring."""
    from lma.tools.base import validate_call

    goal: str | None = None
    turns: list[Turn] = []
    steps = []
    for row, obs, env in replay(rows, env_id, seed, source, env_kwargs):
        goal = goal_of(obs) if goal is None else goal
        call = _call(row)
        if call is None:
            continue
        tools = list(env.unwrapped.tools)
        problem = validate_call(call, tools)
        if problem:
            raise TrainingDataError(f"{source} step {row['step']}: recorded call {call} does not fit the env's "
                                    f"tools: {problem}")
        steps.append(_labelled(row, call, render(plan_input(obs.get("text", ""), tools, turns, goal=goal,
                                                            history=history))))
        turns.append(_turn(row, call))
    return steps


def episode_examples(run: RunDir, result: EpisodeResult, history: int) -> list[Example]:
    """The episode's examples: none for a failed episode unless the expert labelled its steps."""
    rows = run.trajectory(result.episode_id)
    if not result.success and not labelled_by_expert(rows):
        return []
    source = episode_source(run, result)
    steps = recorded_steps(rows)
    recorded = _rows_history(rows, source) if steps is not None else None
    if recorded is not None and recorded != history:
        raise TrainingDataError(f"{source}: its planner was shown {recorded} past steps, so train on it with "
                                f"--history {recorded} (asked: {history})")
    if steps is None:
        steps = replayed_steps(rows, result.env, result.seed, source, history, env_kwargs_of(run, result.env))
    return merge_steps(steps, source)


def save_examples(examples: list[Example], path: str | Path, history: int) -> None:
    """Write examples as JSON lines (``messages``, ``first_target``, ``source``, ``context_only``
    when any): data to inspect, or to train on another machine with ``lma finetune --from FILE.jsonl``.
    Every row also records the ``history`` and ``prompt_layout`` its prompts were made with: a
    planner trained on the file is recorded with those (:mod:`lma.models.records`), so that it is
    later shown the prompt it learned, not the settings of the training command."""
    with open(path, "w", encoding="utf-8") as f:
        for e in examples:
            row: dict[str, Any] = {"messages": e.messages, "first_target": e.first_target, "source": e.source,
                                   "history": history, "prompt_layout": LAYOUT}
            if e.context_only:
                row["context_only"] = list(e.context_only)
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def recorded_history(sources: list[str | Path]) -> int | None:
    """The history the prompts in ``sources`` were made with: what saved example files record, and
    what model-driven agents recorded with every step of their runs; None when none records one
    (runs of the ``expert`` agent, whose prompts are rebuilt at any history, or data made before lma
    recorded it). Sources that disagree are refused: a planner is trained on one prompt shape."""
    found: dict[str, int] = {}
    for path in sources:
        history = _file_history(Path(path)) if str(path).endswith(".jsonl") else _run_history(Path(path))
        if history is not None:
            found[str(path)] = history
    if len(set(found.values())) > 1:
        listed = ", ".join(f"{path} (--history {history})" for path, history in found.items())
        raise TrainingDataError(f"these training sources were made with different histories: {listed}; "
                                "a planner is trained on one prompt shape")
    return next(iter(found.values()), None)


def _file_history(path: Path) -> int | None:
    if not path.is_file():
        return None  # collect_examples names the missing file
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    try:
        return _steps(json.loads(first).get("history"), f"{path}:1")
    except (json.JSONDecodeError, AttributeError):
        return None  # not an example at all: load_examples names the line


def _run_history(path: Path) -> int | None:
    if not (path / "results.jsonl").is_file():
        return None  # collect_examples names what is wrong with the folder
    run = RunDir.open(path)
    for result in run.results():
        if not result.error:
            return _rows_history(run.trajectory(result.episode_id), episode_source(run, result))
    return None


def _rows_history(rows: list[dict[str, Any]], source: str) -> int | None:
    """The history a model-driven agent recorded with its first planned step (None: no prompt recorded)."""
    for row in rows:
        if isinstance(row.get("trace"), dict) and "history" in row["trace"]:
            return _steps(row["trace"]["history"], source)
    return None


def _steps(history: Any, where: str) -> int | None:
    if history is None:
        return None
    try:
        return int(history)
    except (TypeError, ValueError):
        raise TrainingDataError(f"{where}: history {history!r} is not a number of steps") from None


def training_history(sources: list[str | Path], given: int | None) -> int:
    """The history to make prompts with: ``given``, else the one ``sources`` were recorded with
    (:func:`recorded_history`), else the agents' default."""
    if given is not None:
        return given
    recorded = recorded_history(sources)
    return DEFAULT_HISTORY if recorded is None else recorded


def load_examples(path: str | Path) -> list[Example]:
    """Examples saved by :func:`save_examples` (or by lma before 0.2: one ``target`` per prompt);
    examples made for another prompt layout than this lma's are refused."""
    examples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
            layout = row.get("prompt_layout", LAYOUT)
            messages, source = list(row["messages"]), row.get("source", f"{path}:{number}")
            if "first_target" in row:
                examples.append(Example(messages, int(row["first_target"]), source,
                                        tuple(int(i) for i in row.get("context_only", ()))))
            else:
                examples.append(Example(messages + [{"role": "assistant", "content": row["target"]}],
                                        len(messages), source))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TrainingDataError(f"{path}:{number}: not an lma training example ({exc})") from None
        if layout != LAYOUT:
            raise TrainingDataError(f"{path}:{number}: an example of prompt layout {layout}; this lma's planners "
                                    f"are asked layout {LAYOUT}: save the data again from its runs (--save-data)")
    return examples


def collect_examples(sources: list[str | Path], history: int = DEFAULT_HISTORY, per_episode: int | None = None,
                     seed: int = 0) -> tuple[list[Example], int]:
    """All examples of the successful episodes in run folders, and of every episode the expert
    labelled (``dagger`` runs), or saved by :func:`save_examples` in ``.jsonl`` files; and how many
    episodes gave them. With ``per_episode``, at most that many of each episode (:func:`capped`)."""
    examples: list[Example] = []
    episodes = 0
    for path in sources:
        if str(path).endswith(".jsonl"):
            if not Path(path).is_file():
                raise TrainingDataError(f"training data file not found: {path}")
            saved = _file_history(Path(path))
            if saved is not None and saved != history:
                raise TrainingDataError(f"{path} was saved with --history {saved}: its prompts show {saved} past steps, "
                                        f"so train on it with --history {saved} (asked: {history})")
            loaded = load_examples(path)
            examples += loaded
            episodes += len({episode_of(e.source) for e in loaded})
            continue
        run = RunDir.open(path)
        for result in run.results():
            if result.error:
                continue
            found = episode_examples(run, result, history)
            episodes += bool(found)
            examples += found
    if not examples:
        raise TrainingDataError(f"no successful episode with steps in {', '.join(map(str, sources))}: "
                                "record some first, e.g. `lma run --agent expert --env ENV --episodes 50`")
    return (capped(examples, per_episode, seed) if per_episode else examples), episodes


def capped(examples: list[Example], per_episode: int, seed: int) -> list[Example]:
    """At most ``per_episode`` examples of each episode, drawn with ``seed``, in their order. A
    learner stuck in a loop for a whole DAgger episode is labelled at every step of it, nearly the
    same lesson a hundred times; capped, each episode weighs about the same and an epoch is shorter."""
    by_episode: dict[str, list[int]] = {}
    for index, e in enumerate(examples):
        by_episode.setdefault(episode_of(e.source), []).append(index)
    rng = random.Random(seed)
    kept = {i for indices in by_episode.values()
            for i in (indices if len(indices) <= per_episode else rng.sample(indices, per_episode))}
    return [e for index, e in enumerate(examples) if index in kept]
