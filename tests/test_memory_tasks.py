"""The memory/* series envs, their oracles, series played in order by lma eval, and training data
from Type III and IV runs with the prompts those agents saw."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import pytest

from lma.agents import make_agent
from lma.agents.memory_oracles import MemoryOracle
from lma.core import Task
from lma.envs import make
from lma.envs.memory_tasks.facts import person
from lma.errors import LmaError
from lma.models.scripted import ScriptedModel
from lma.run.evaluate import prepare, run_jobs
from lma.run.recording import RunDir, episode_id
from lma.run.runner import run_episode
from lma.train.data import TrainingDataError, collect_examples

ROOT = Path(__file__).resolve().parent.parent
FACTS, HOUSE = "memory/facts-v0", "memory/house-v0"


def play(agent, env_id: str, seeds, **env_kwargs):
    return [run_episode(agent, Task(env_id, seed, env_kwargs=env_kwargs)) for seed in seeds]


def test_episodes_of_a_series_share_the_house_and_the_person():
    env = make(HOUSE)
    layouts, errands = {}, {}
    for seed in (0, 4, 6):
        obs, _ = env.reset(seed=seed)
        level = env.unwrapped.level
        objects = sorted((o.color, o.type, tuple(o.cur_pos)) for o in level.grid.grid if o and o.type != "wall")
        layouts[seed], errands[seed] = objects, level.mission
        assert "Series" in obs["text"] and not level.agent_sees(*level.target.cur_pos)
    env.close()
    assert layouts[0] == layouts[4] != layouts[6]  # series 0 (seeds 0-5) is one house, seed 6 the next
    assert errands[0] != errands[4]
    facts = make(FACTS)
    first, _ = facts.reset(seed=1)
    again, _ = facts.reset(seed=4)  # errand 4 asks again what errand 1 asked; no document holds it
    name, known = person(0)
    assert name in first["text"] and name in again["text"]
    assert facts.unwrapped.fact == known["desk"]  # errand 1 asked for the desk; errand 4 asks again
    assert all(f.person != name for f in facts.unwrapped.docs.values())  # memos about other people only
    facts.close()


def test_perfect_memory_succeeds_where_no_memory_fails_on_facts():
    remembering, forgetting = MemoryOracle("window?size=64"), make_agent("oracle-no-memory")
    with_memory, without = play(remembering, FACTS, range(12)), play(forgetting, FACTS, range(12))
    revisit = [r.metrics["recall_errand"] for r in with_memory]
    assert revisit == [False] * 3 + [True] * 3 + [False] * 3 + [True] * 3
    assert [r.success for r in with_memory] == [True] * 12
    assert [r.success for r in without] == [not v for v in revisit]  # it knows only what it reads now


def test_perfect_memory_finds_seen_objects_within_the_tight_budget():
    remembering, forgetting = MemoryOracle("window?size=64"), make_agent("oracle-no-memory")
    series = range(12, 18)  # series 2 (on series 0 the oracle knows a longer way than the budget for one errand)
    with_memory, without = play(remembering, HOUSE, series), play(forgetting, HOUSE, series)
    assert [r.metrics["recall_errand"] for r in with_memory] == [False] * 3 + [True] * 3
    first = with_memory[0], without[0]  # nothing remembered yet: the same play (later new errands may
    assert (first[0].success, first[0].steps) == (first[1].success, first[1].steps)  # use what was seen)
    budgets = [r.metrics["step_budget"] for r in with_memory]
    assert budgets[:3] == [96] * 3 and all(b < 96 for b in budgets[3:])
    remembered = sum(r.success for r in with_memory[3:])
    assert remembered == 3 and remembered > sum(r.success for r in without[3:])
    assert sum(r.steps for r in with_memory[3:]) < sum(r.steps for r in without[3:])


@pytest.mark.parametrize("env_id", ["memory/facts-control-v0", "memory/house-control-v0"])
def test_control_families_give_memory_nothing(env_id):
    remembering, forgetting = MemoryOracle("window?size=64"), make_agent("oracle-no-memory")
    seeds = range(6 if "facts" in env_id else 2)
    with_memory, without = play(remembering, env_id, seeds), play(forgetting, env_id, seeds)
    assert not any(r.metrics["recall_errand"] for r in with_memory)
    assert [(r.success, r.steps) for r in with_memory] == [(r.success, r.steps) for r in without]


def test_bad_input_is_one_clear_error_and_an_empty_recall_is_no_crash():
    with pytest.raises(LmaError, match="series_length"):
        make(FACTS, series_length=0)
    with pytest.raises(LmaError, match="series_length >= 1"):
        make(HOUSE, series_length=0)
    result = run_episode(MemoryOracle("window"), Task("babyai/GoToObj-v0", 0))
    assert "has no series" in result.error
    # A recall errand on an empty (real Chroma) memory: nothing recalled, the episode just fails.
    empty = MemoryOracle("chroma:empty-oracle")
    result, = play(empty, FACTS, [3])
    assert not result.error and not result.success and result.metrics["answered"]


def eval_args(*flags: str) -> dict:
    from lma.cli.eval import add_arguments, given_settings

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return given_settings(parser.parse_args(list(flags)))


def test_memory_config_and_seed_episodes_overrides():
    config_file = str(ROOT / "docs/examples/memory.yaml")
    _, config = prepare(eval_args("--config", config_file))
    labels = [a["label"] for a in config["agents"]]
    assert {"type2", "type3", "type4", "oracle-memory", "oracle-no-memory"} <= set(labels)
    assert config["seeds"] == list(range(12)) and all(e.startswith("memory/") for e in config["envs"])
    _, config = prepare(eval_args("--config", config_file, "--seed", "12", "--episodes", "3", "--workers", "2"))
    assert config["seeds"] == [12, 13, 14] and config["execution"]["workers"] == 2
    _, config = prepare(eval_args("--config", config_file, "--agents", "type4,expert"))  # picked from the file
    type4, expert = config["agents"]
    assert type4["options"]["memory"] == "chroma:memory-type4" and "n_threads=1" in type4["options"]["model"]
    assert expert["name"] == "expert"


def test_lma_eval_plays_a_series_in_order_with_one_memory_across_workers(tmp_path):
    _, config = prepare({"agents": [{"name": "oracle-memory", "memory": "chroma:ordered"}], "envs": [FACTS],
                         "episodes": 4, "env_args": {FACTS: {"series_length": 2}}, "workers": 2,
                         "record_frames": False, "out": str(tmp_path / "runs")})
    run = run_jobs(config)
    results = {r.seed: r for r in run.results()}
    assert [results[s].success for s in range(4)] == [True] * 4
    recalled = [run.trajectory(results[s].episode_id)[0]["trace"]["recalled"] for s in range(4)]
    assert recalled == [0, 1, 0, 1]  # each errand 1 started after errand 0 of its series was written


class RecordingModel(ScriptedModel):
    """A scripted planner that keeps every prompt it is sent (the prompts the agent really saw)."""

    def __init__(self, outputs: list[dict]):
        super().__init__([json.dumps(o) for o in outputs])
        self.prompts: list[list[dict]] = []

    def complete(self, messages, **kwargs):
        self.prompts.append(copy.deepcopy(messages))
        return super().complete(messages, **kwargs)


def record(tmp_path: Path, agent, seeds, name: str) -> Path:
    run = RunDir.create(tmp_path / "runs", name, {"agent": agent.config(), "env": FACTS})
    for seed in seeds:
        recorder = run.episode(episode_id(agent.name, FACTS, seed), record_frames=False)
        run.add_result(run_episode(agent, Task(FACTS, seed), recorder=recorder))
    return run.path


def holder(seed: int) -> str:
    env = make(FACTS)
    env.reset(seed=seed)
    return next(d for d, f in env.unwrapped.docs.items() if f == env.unwrapped.fact)


@pytest.mark.parametrize("preset", ["type1", "type3", "type4"])
def test_training_prompts_are_byte_for_byte_the_prompts_each_type_saw(tmp_path, preset):
    _, facts = person(0)
    answer = {"name": "answer", "args": {"text": facts["locker code"].value}}
    calls = [{"name": "read", "args": {"doc_id": holder(0)}}, answer, answer]  # seed 0, then seed 3 asks again
    if preset == "type3":
        calls = [{"name": "recall", "args": {"query": "locker code"}}, calls[0],
                 {"name": "remember", "args": {"note": f"locker code {answer['args']['text']}"}}, answer,
                 {"name": "recall", "args": {"query": "locker code"}}, answer]
    model = RecordingModel(calls)
    agent = make_agent(preset, model=model, memory="window?size=32")
    run = record(tmp_path, agent, [0, 3], preset)
    assert all(r.success for r in RunDir(run).results())
    examples, episodes = collect_examples([run])
    assert episodes == 2
    prompts = [e.messages[:i] for e in examples for i in range(e.first_target, len(e.messages))
               if e.messages[i]["role"] == "assistant"]
    targets = [t for e in examples for t in e.targets]
    assert json.dumps(prompts) == json.dumps(model.prompts)
    assert [json.loads(t) for t in targets] == calls
    if preset == "type4":  # the second episode's prompt holds what Type IV recalled
        assert "Relevant memories:" in prompts[-1][-1]["content"]
        asked = len(model.prompts)
        again = record(tmp_path / "again", agent, [0], preset)  # seed 0 again: its skill is replayed
        assert len(model.prompts) == asked and all(r.success for r in RunDir(again).results())
        with pytest.raises(TrainingDataError, match="no successful episode with steps"):
            collect_examples([again])  # no planner was asked: nothing to train on
