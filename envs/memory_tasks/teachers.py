"""``teacher:memory/facts``: a scripted planner that plays a memory family from its prompt alone.

``lma finetune`` trains a planner on the exact prompts its agent type sees, so training data for
Types II, III and IV must be recorded *through* those agents: their prompts, their recalled
memories, their ``recall`` calls. The env's expert cannot do that (it reads hidden state); this
teacher is a :class:`~lma.models.base.ChatModel` that reads only the messages it is sent, so any
agent type can be driven by it (``lma eval --agents type2,type3,type4 --model teacher:memory/facts``)
and its calls use memory exactly as well as the agent's wiring lets it, no better:

1. a fact of the question read in this episode (``d2 says: Dana Reyes's desk is C-41.``) is
   answered;
2. else it reads the unread memo about the person asked about: what can be read now beats what is
   remembered (names recur, and a memory of a namesake would mislead);
3. else a recalled memory of an earlier *successful* episode that asked the same question (Type
   IV's recalled experiences, Type III's ``recall`` results) gives the answer it gave;
4. else, when the prompt offers a ``recall`` tool, it recalls the question (Type III offers each
   memory tool once a step, so it is gone from the next prompt of the step once used);
5. else it answers "I do not know".

Scripted: no model, named as such (``teacher:`` specs), for recording training data and for
testing agent wiring, never as a result of its own.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from lma.core import Usage
from lma.envs.memory_tasks.facts import ASK, ASK_AGAIN, KEYS
from lma.models.base import ChatModel, Completion, Message, ModelError

_KEY = "|".join(re.escape(k) for k in KEYS)
_QUESTIONS = [re.compile(re.escape(template).replace(r"\{name\}", r"(?P<name>[A-Z][a-z]+ [A-Z][a-z]+)", 1)
                         .replace(r"\{key\}", rf"(?P<key>{_KEY})").replace(r"\{name\}", r"(?P=name)"))
              for template in (ASK_AGAIN, ASK)]
_ANSWER = re.compile(r"answer\(text='(?P<value>[^']*)'\)")


def question_of(text: str, label: str) -> tuple[str, str] | None:
    """``(name, key)`` of the facts question (asked anew or again) that follows ``label`` in ``text``:
    ``"Question: "`` in an observation, ``"Task: "`` in a recalled memory."""
    line = re.search(rf"{label}(.*)$", text, re.M)
    for pattern in _QUESTIONS:
        found = pattern.match(line[1]) if line else None
        if found:
            return found["name"], found["key"]
    return None


class FactsTeacher(ChatModel):
    """Plays ``memory/facts-*`` from the prompt (see the module docstring)."""

    def __init__(self, name: str = "teacher:memory/facts"):
        self.name = name

    def decide(self, messages: list[Message]) -> dict[str, Any]:
        """The call to make, as ``{"name": ..., "args": ...}``."""
        last = str(messages[-1]["content"])
        asked = question_of(last, "^Question: ")
        if asked is None:
            raise ModelError("teacher:memory/facts got a prompt without a facts question")
        name, key = asked
        episode = "\n".join(str(m["content"]) for m in messages[1:] if m["role"] == "user")
        read = re.search(rf"^d\d+ says: {re.escape(name)}'s {re.escape(key)} is (?P<value>.+)\.$", episode, re.M)
        if read:
            return {"name": "answer", "args": {"text": read["value"]}}
        done = set(re.findall(r"^(d\d+) says:", episode, re.M))
        unread = [d for d in re.findall(rf"(d\d+): memo about {re.escape(name)}\b", last) if d not in done]
        if unread:
            return {"name": "read", "args": {"doc_id": unread[0]}}
        for line in last.splitlines():
            answered = _ANSWER.search(line)
            if answered and "outcome: success" in line and question_of(line, "Task: ") == asked:
                return {"name": "answer", "args": {"text": answered["value"]}}
        if "- recall(" in str(messages[0]["content"]):
            return {"name": "recall", "args": {"query": f"{name}'s {key}"}}
        return {"name": "answer", "args": {"text": "I do not know"}}

    def complete(self, messages, *, images=(), schema=None, max_tokens=256, temperature=0.0) -> Completion:
        start = time.perf_counter()
        call = self.decide(messages)
        text = json.dumps(call)
        return Completion(text, call if schema is not None else None, Usage(latency=time.perf_counter() - start))


TEACHERS = {"memory/facts": FactsTeacher}


def from_spec(target: str, **options: str) -> ChatModel:
    if target not in TEACHERS:
        raise ModelError(f"no teacher for {target!r}; teachers: {', '.join(sorted(TEACHERS))}")
    return TEACHERS[target]()
