"""The four survey types on real BabyAI episodes; planners are scripted models (named as such),
memory is real Chroma in the test's LMA_HOME."""

from __future__ import annotations

import pytest

from lma.agents import ExpertAgent, default_model, make_agent
from lma.agents.experience import SkillReplay, episode_memories, observation_key
from lma.cli import main
from lma.core import EpisodeResult, Task
from lma.memory import MemoryItem, WindowMemory, make_memory
from lma.errors import LmaError
from lma.run.runner import run_episode

ENV = "babyai/GoToObj-v0"


def expert_calls(seed: int) -> list[dict]:
    """The scripted BabyAI bot's actions for one episode, as planner outputs."""
    agent = ExpertAgent()
    calls: list[dict] = []
    agent.observe = lambda record: calls.append({"name": record.call.name, "args": record.call.args})
    assert run_episode(agent, Task(ENV, seed)).success
    return calls


def test_list_agents_states_the_survey_type_and_wiring(capsys):
    assert main(["list", "agents"]) == 0
    out = capsys.readouterr().out
    for name, kind in [("type1", "Type I:"), ("type2", "Type II:"), ("type3", "Type III:"), ("type4", "Type IV:")]:
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert kind in line
    assert "recall/remember tools" in out and "skills replayed" in out and "lma finetune" in out


def test_type1_default_planner_and_type2_needs_a_finetuned_model(monkeypatch, tmp_path):
    for var in ("LMA_MODEL", "OPENAI_BASE_URL", "OPENAI_MODEL", "LMA_TYPE2_MODEL"):
        monkeypatch.delenv(var, raising=False)
    assert default_model() is None  # the embedded model
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4o")
    assert default_model() == "openai:http://127.0.0.1:9/v1#gpt-4o"
    monkeypatch.setenv("LMA_MODEL", "llamacpp:smollm2-135m")
    assert default_model() == "llamacpp:smollm2-135m"
    with pytest.raises(LmaError, match="type2 needs a fine-tuned model"):
        make_agent("type2")


def test_type3_planner_calls_memory_tools_before_acting(scripted_model):
    memory = make_memory("chroma:type3")
    memory.write(MemoryItem("the ball is usually behind you: turn around first", metadata={"env": ENV}))
    model = scripted_model([
        {"name": "recall", "args": {"query": "where is the ball"}},
        {"name": "turn_left", "args": {}},
        {"name": "remember", "args": {"note": "turning left twice worked"}},
        {"name": "turn_left", "args": {}},
    ])
    agent = make_agent("type3", model=model, memory=memory)
    result = run_episode(agent, Task(ENV, 0, max_steps=2))
    assert result.steps == 2 and not result.error
    first, second = (record["inner_calls"] for record in agent_traces(agent))
    assert first[0]["call"].startswith("recall(") and "turn around first" in first[0]["result"]
    assert [(c["call"], c["result"], c["name"], c["args"]) for c in second] == [
        ("remember(note='turning left twice worked')", "remembered", "remember", {"note": "turning left twice worked"})]
    assert second[0]["messages"][-1]["role"] == "user"  # the prompt it answered, for lma finetune
    notes = memory.recall("what worked", k=5, where={"env": ENV, "kind": "note"})
    assert "turning left twice worked" in [n.text for n in notes]
    assert memory.count({"kind": "experience"}) == 1  # the episode is written at the end too


def agent_traces(agent):
    return [s.trace for s in agent.steps]


def test_type4_replays_a_stored_skill_while_observations_match(scripted_model):
    calls = expert_calls(seed=3)
    memory = make_memory("chroma:type4")
    first = make_agent("type4", model=scripted_model(calls), memory=memory)
    solved = run_episode(first, Task(ENV, 3))
    assert solved.success and solved.steps == len(calls)
    skill = memory.recall("go to", k=1, where={"kind": "skill"})[0]
    assert [s["name"] for s in skill.metadata["replay"]] == [c["name"] for c in calls]

    # Same task again: the planner (scripted to turn in place forever) is never asked.
    again = make_agent("type4", model=scripted_model([{"name": "turn_left", "args": {}}]), memory=memory)
    result = run_episode(again, Task(ENV, 3))
    assert result.success and result.steps == len(calls)
    assert all("replayed_skill" in s.trace for s in again.steps)

    # Another seed starts from another observation: no replay, the planner decides and memories are recalled.
    other = make_agent("type4", model=scripted_model([{"name": "turn_left", "args": {}}]), memory=memory)
    result = run_episode(other, Task(ENV, 4, max_steps=3))
    assert not result.success and not any("replayed_skill" in s.trace for s in other.steps)
    assert any("[experience] Task:" in m for m in other.steps[0].trace["memories"])


def test_skill_replay_stops_for_good_when_the_observation_differs():
    memory, task = WindowMemory(), Task(ENV, 0, goal="go to the red ball")
    memory.write(MemoryItem("Task: go to the red ball", "skill", {
        "env": ENV, "task": task.goal, "outcome": "success", "start": observation_key("A"),
        "replay": [{"obs": observation_key(o), "name": n, "args": {}} for o, n in [("A", "forward"), ("B", "pickup")]],
    }))
    replay = SkillReplay()
    assert replay.start(memory, task, "A") is not None
    assert replay.next("A")[0].name == "forward"
    assert replay.next("C") is None and replay.next("B") is None  # diverged: the planner takes over
    assert SkillReplay().start(memory, Task(ENV, 0, goal="go to the blue key"), "A") is None


def test_episode_memories_keep_a_skill_only_for_successes():
    calls = expert_calls(seed=1)
    agent = ExpertAgent()
    steps = []
    agent.observe = steps.append
    task = Task(ENV, 1)
    result = run_episode(agent, task)
    items = episode_memories(task, result, steps)
    assert [i.kind for i in items] == ["experience", "skill"]
    assert len(items[1].metadata["replay"]) == len(calls) and "reflection: Succeeded" in items[0].text
    failed = EpisodeResult("x", ENV, "a", 1, success=False, steps=len(steps))
    assert [i.kind for i in episode_memories(task, failed, steps)] == ["experience"]
