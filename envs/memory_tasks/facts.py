"""``memory/facts-v0``: questions about one person whose answers were read in earlier episodes.

Series ``s`` is about one person (a name and six facts: locker code, desk, parking spot, badge
number, manager, lunch place), all drawn from a generator seeded by ``s`` alone
(:mod:`lma.envs.memory_tasks.series`). Each episode is one question about that person, with a
handful of documents to ``read(doc_id)`` and an ``answer(text)`` that ends it. In the first half
of a series the document with the answer is among them (with memos about other people as
distractors); in the second half the question comes back, worded anew, and none of the documents
holds the answer: it was read, and answered, in an earlier episode.

What memory can give: a fact read (or an answer given) in an earlier episode of the series. What
it cannot: a fact never read, or anything in the control family ``memory/facts-control-v0``
(``series_length=1``: every episode a new person, the answer always among its documents).
Success means the answer contains the fact's value (case and spacing ignored); reward 1.

``expert_action()`` reads the document that holds the answer when there is one, then answers;
otherwise it answers from what ``use_knowledge(items)`` gave it (the facts earlier episodes read),
else says it does not know. ``knowledge()`` is the facts in the documents read this episode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from lma.core import Observation, ToolCall
from lma.envs.base import ActionTool, ToolEnv
from lma.envs.memory_tasks.series import SeriesEnv, recalled_index
from lma.envs.spaces import Frame, observation_space
from lma.errors import LmaError

FIRST = ("Dana", "Lee", "Ayla", "Tomas", "Mira", "Jon", "Priya", "Kofi", "Elin", "Ravi", "Noor", "Ines")
LAST = ("Reyes", "Park", "Okafor", "Lind", "Haddad", "Moreau", "Sato", "Novak", "Berg", "Costa", "Quinn", "Ward")
PLACES = ("the Green Fork", "Lantern Noodles", "Cafe Orbit", "the Salt Shed", "Pita Point", "Blue Kettle")
DOCUMENTS = 4
STEPS = 6


def _value(key: str, rng: np.random.Generator) -> str:
    if key == "locker code":
        return f"{int(rng.integers(1000, 10000))}"
    if key == "desk":
        return f"{'ABCDEF'[int(rng.integers(6))]}-{int(rng.integers(10, 60))}"
    if key == "parking spot":
        return f"P{int(rng.integers(1, 5))}-{int(rng.integers(10, 100))}"
    if key == "badge number":
        return f"{int(rng.integers(10000, 100000))}"
    if key == "manager":
        return f"{FIRST[int(rng.integers(len(FIRST)))]} {LAST[int(rng.integers(len(LAST)))]}"
    return PLACES[int(rng.integers(len(PLACES)))]


KEYS = ("locker code", "desk", "parking spot", "badge number", "manager", "usual lunch place")
ASK = "What is {name}'s {key}?"
ASK_AGAIN = "{name} asks again: what was the {key} of {name}?"


@dataclass(frozen=True)
class Fact:
    person: str
    key: str
    value: str

    def sentence(self) -> str:
        return f"{self.person}'s {self.key} is {self.value}."


def person(series: int) -> tuple[str, dict[str, Fact]]:
    """The person of a series and their facts, by key (the same for every episode of the series)."""
    rng = np.random.default_rng([series, 0xFAC75])
    name = f"{FIRST[int(rng.integers(len(FIRST)))]} {LAST[int(rng.integers(len(LAST)))]}"
    return name, {key: Fact(name, key, _value(key, rng)) for key in KEYS}


def normalise(text: str) -> str:
    return re.sub(r"[\s.]+", " ", text.lower()).strip()


class FactsEnv(SeriesEnv, ToolEnv):
    """Questions about one person per series; see the module docstring."""

    max_episode_steps = STEPS

    def __init__(self, series_length: int = 6):
        super().__init__()
        if not 1 <= series_length <= 2 * len(KEYS):
            raise LmaError(f"series_length must be 1 to {2 * len(KEYS)} (six facts per person), got {series_length}")
        self.series_length = int(series_length)
        self.observation_space = observation_space(Frame(never=True))
        self.docs: dict[str, Fact] = {}
        self.fact: Fact | None = None
        self.question = ""
        self._read: list[str] = []
        self._known: dict[str, str] = {}
        self._answered = False

    def _reset(self, seed: int | None) -> tuple[Observation, dict[str, Any]]:
        seed = self.start_series_episode(seed)
        rng = np.random.default_rng(seed)  # this episode's distractors and document order
        name, facts = person(self.series)
        revisit = recalled_index(self.index, self.series_length)
        errand = self.index if revisit is None else revisit
        self.fact = facts[KEYS[(errand + self.series) % len(KEYS)]]  # a control series asks about any fact
        self.question = (ASK if revisit is None else ASK_AGAIN).format(name=name, key=self.fact.key)
        docs = [] if revisit is not None else [self.fact]
        while len(docs) < DOCUMENTS:
            other, other_facts = person(int(rng.integers(10**6, 10**7)))
            if other != name:
                docs.append(other_facts[KEYS[int(rng.integers(len(KEYS)))]])
        order = rng.permutation(len(docs))
        self.docs = {f"d{i + 1}": docs[int(n)] for i, n in enumerate(order)}
        self.tools = [
            ActionTool("read", "Read one of the documents you can read now.",
                       {"type": "object", "properties": {"doc_id": {"type": "string", "enum": list(self.docs)}},
                        "required": ["doc_id"], "additionalProperties": False}),
            ActionTool("answer", "Finish: answer the question in a few words.",
                       {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"],
                        "additionalProperties": False}),
        ]
        self._read, self._known, self._answered = [], {}, False
        return self._observe("You have not read anything yet."), self.series_data()

    def _observe(self, body: str) -> Observation:
        listing = "; ".join(f"{i}: memo about {f.person}" for i, f in self.docs.items())
        text = f"{self.where_text()} (about one person)\nQuestion: {self.question}\nDocuments: {listing}\n{body}"
        return {"text": text, "image": None, "data": {"goal": self.question, **self.series_data()}}

    def _act(self, call: ToolCall) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        assert self.fact is not None
        if call.name == "read":
            fact = self.docs[call.args["doc_id"]]
            self._read.append(call.args["doc_id"])
            return self._observe(f"{call.args['doc_id']} says: {fact.sentence()}"), 0.0, False, False, {}
        self._answered = True
        success = normalise(self.fact.value) in normalise(call.args["text"])
        obs = self._observe("Answered: correct." if success else "Answered: not correct.")
        return obs, float(success), True, False, {"success": success}

    def episode_metrics(self) -> dict[str, Any]:
        return {**self.series_data(), "recall_errand": self.recall_errand, "answered": self._answered}

    def knowledge(self) -> dict[str, Any]:
        return {"facts": [[f.person, f.key, f.value] for f in (self.docs[d] for d in self._read)]}

    def use_knowledge(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            for name, key, value in item.get("facts", []):
                self._known[f"{name}|{key}"] = value

    def expert_action(self) -> ToolCall:
        assert self.fact is not None
        holder = next((d for d, f in self.docs.items() if f == self.fact), None)
        if holder is not None and holder not in self._read:
            return ToolCall("read", {"doc_id": holder})
        if holder is not None:
            return ToolCall("answer", {"text": self.fact.value})
        known = self._known.get(f"{self.fact.person}|{self.fact.key}")
        return ToolCall("answer", {"text": known or "I do not know"})
