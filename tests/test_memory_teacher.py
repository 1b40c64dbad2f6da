"""``teacher:memory/facts`` uses memory exactly as well as each agent's wiring lets it: it reads
only its prompt, so recorded runs are training data for that wiring."""

from __future__ import annotations

import pytest

from lma.agents import make_agent
from lma.core import Task
from lma.envs.memory_tasks.teachers import FactsTeacher, question_of
from lma.models import ModelError, load_model
from lma.run.runner import run_episode

FACTS = "memory/facts-v0"
TEACHER = "teacher:memory/facts"


def play(agent, seeds):
    results = [run_episode(agent, Task(FACTS, seed)) for seed in seeds]
    assert not [r.error for r in results if r.error]
    new = [r.success for r in results if not r.metrics["recall_errand"]]
    repeated = [r.success for r in results if r.metrics["recall_errand"]]
    return new, repeated, agent


def test_without_memory_it_answers_only_what_it_reads_now():
    new, repeated, _ = play(make_agent("type2", model=TEACHER), range(12))
    assert all(new) and len(new) == 6
    assert not any(repeated) and len(repeated) == 6  # nothing in a repeated errand's prompt holds the answer


def test_type4_answers_repeated_questions_from_what_it_recalled():
    new, repeated, agent = play(make_agent("type4", model=TEACHER, memory="graph:teacher-type4"), range(18))
    assert all(new)
    assert sum(repeated) >= 8  # of 9; what a wrong recall hides, the teacher cannot know
    last = agent.steps[-1].trace
    assert "Relevant memories:" in last["messages"][-1]["content"]


def test_type3_calls_recall_only_when_nothing_in_view_can_answer():
    agent = make_agent("type3", model=TEACHER, memory="graph:teacher-type3")
    recalls, repeated, answered = [], [], 0
    for seed in range(6):
        result = run_episode(agent, Task(FACTS, seed))
        recalls.append(sum(c["name"] == "recall" for s in agent.steps for c in s.trace.get("inner_calls", [])))
        repeated.append(result.metrics["recall_errand"])
        answered += result.success and result.metrics["recall_errand"]
    assert recalls == [int(r) for r in repeated]  # new errands: the memo is in view; repeated: one recall
    assert answered >= 2  # of 3


def test_a_prompt_it_cannot_play_is_one_clear_error():
    teacher = load_model(TEACHER)
    assert isinstance(teacher, FactsTeacher)
    with pytest.raises(ModelError, match="without a facts question"):
        teacher.complete([{"role": "system", "content": "Tools:"}, {"role": "user", "content": "go to the red ball"}])
    with pytest.raises(ModelError, match="teachers: memory/facts"):
        load_model("teacher:babyai")
    result = run_episode(make_agent("type1", model=TEACHER), Task("babyai/GoToObj-v0", 0))
    assert result.error and "without a facts question" in result.error


def test_questions_are_parsed_asked_anew_and_again():
    assert question_of("Question: What is Dana Reyes's desk?", "^Question: ") == ("Dana Reyes", "desk")
    again = "x\nQuestion: Dana Reyes asks again: what was the usual lunch place of Dana Reyes?"
    assert question_of(again, "^Question: ") == ("Dana Reyes", "usual lunch place")
    assert question_of("Question: Dana Reyes asks again: what was the desk of Lee Park?", "^Question: ") is None
