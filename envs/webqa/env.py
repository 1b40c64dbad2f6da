"""WebQA as an lma env: find the right sources among distractors, read them, answer.

One episode is one question; the seed selects it (``seed % number of questions``, so seeds 0..6
of the synthetic set visit all seven categories). The agent sees the question only; the pool of
candidate sources (text snippets and images, most of them distractors) is reached through three
tools:

* ``search(query)``: the best-matching sources (id, kind, title, a preview), ranked by BM25 over
  titles, snippets and captions (:mod:`lma.envs.webqa.retrieval`); offline, no model.
* ``read(source_id)``: a snippet's text, or an image: the picture goes into the observation's
  ``image`` (shown to models that take images) and its title and caption into the text. An image
  whose line of the data cannot be decoded is marked unreadable the first time (that step's
  ``info["error"]`` says why; the observation says so, with the caption, the only thing left of
  it; ``data["unreadable"]`` lists such ids) and is not decoded again, so an agent, the oracle
  included, moves on.
* ``answer(text, sources)``: ends the episode with the answer and the ids it rests on.

Scoring follows WebQA (:mod:`lma.envs.webqa.metrics`): the reward is the answer's accuracy (Acc,
category-aware keyword overlap), success means ``acc >= success_acc``, and
:meth:`WebQAEnv.episode_metrics` reports ``acc``, ``retrieval_f1`` (chosen ids against the
positive sources), ``category``, and ``fl``/``qa`` (fluency and FL x Acc), which stay ``None``
unless a BARTScore model is configured (``bartscore=PATH`` or ``$LMA_WEBQA_BARTSCORE``).

``expert_action()`` is an oracle, not an agent: it reads the positive sources it is told about
and answers with the reference answer. It checks the env end to end (it must reach Acc ~1 and
retrieval F1 1) and records demonstrations.

``webqa/synthetic-v0`` uses the bundled synthetic set (generated on first use);
``webqa/real-v0`` needs a copy of the real data (``data=PATH`` or ``$LMA_WEBQA_DATA``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lma.core import Observation, ToolCall
from lma.envs.base import ActionTool, ToolEnv
from lma.envs.spaces import Frame, observation_space
from lma.envs.webqa.data import Source, WebQADataError, WebQADataset, WebQAExample, real_data_path
from lma.envs.webqa.metrics import accuracy, retrieval_f1
from lma.envs.webqa.retrieval import BM25
from lma.envs.webqa.synthetic import synthetic_dir
from lma.errors import LmaError

__all__ = ["BARTSCORE_ENV_VAR", "WebQAEnv"]

BARTSCORE_ENV_VAR = "LMA_WEBQA_BARTSCORE"
_PREVIEW = 90  # characters of a snippet or caption shown in search results


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


TOOLS = [
    ActionTool("search", "Search the candidate sources (text snippets and image captions); returns the best "
               "matching source ids with titles.",
               {"type": "object", "properties": {"query": _string("words to look for")}, "required": ["query"],
                "additionalProperties": False}),
    ActionTool("read", "Read one source by id: a text snippet, or an image (attached) with its caption.",
               {"type": "object", "properties": {"source_id": _string("an id from the search results")},
                "required": ["source_id"], "additionalProperties": False}),
    ActionTool("answer", "Finish: answer the question in one sentence and list the ids of the sources you used.",
               {"type": "object", "properties": {"text": _string("the answer"), "sources": {
                   "type": "array", "items": {"type": "string"}, "description": "ids of the sources used"}},
                "required": ["text", "sources"], "additionalProperties": False}),
]  # fmt: skip


class WebQAEnv(ToolEnv):
    """WebQA questions from the synthetic set or the real data; see the module docstring."""

    def __init__(self, dataset: str = "synthetic", data: str | None = None, split: str | None = None,
                 top_k: int = 5, success_acc: float = 0.5, bartscore: str | None = None) -> None:
        super().__init__()
        if dataset == "synthetic":
            folder = Path(data) if data else synthetic_dir()
        elif dataset == "real":
            folder = real_data_path(data)
        else:
            raise LmaError(f"unknown WebQA dataset {dataset!r}; expected 'synthetic' or 'real'")
        self.dataset = WebQADataset(folder, split=split)
        self.top_k, self.success_acc = top_k, success_acc
        self.tools = list(TOOLS)
        self.observation_space = observation_space(Frame(optional=True))  # a read picture, at its own size
        bartscore = bartscore or os.environ.get(BARTSCORE_ENV_VAR)
        self._scorer = None
        if bartscore:
            from lma.envs.webqa.fluency import BARTScorer

            self._scorer = BARTScorer(bartscore)
        self.example: WebQAExample | None = None
        self._index: BM25 | None = None
        self._read: list[str] = []
        self._unreadable: dict[str, str] = {}  # source id -> why its image cannot be decoded
        self._metrics: dict[str, Any] = {}

    # --- episode ---------------------------------------------------------------------------

    def _reset(self, seed: int | None) -> tuple[Observation, dict[str, Any]]:
        n = len(self.dataset)
        index = seed % n if seed is not None else int(self.np_random.integers(n))
        self.example = example = self.dataset.example(index)
        self._index = BM25([f"{s.title} {s.text}" for s in example.sources])
        self._read, self._unreadable = [], {}
        self._metrics = {"guid": example.guid, "category": example.category, "answered": False, "acc": 0.0,
                         "retrieval_f1": 0.0, "fl": None, "qa": None}  # fmt: skip
        texts = sum(s.kind == "text" for s in example.sources)
        body = (f"{len(example.sources)} candidate sources ({texts} text snippets, {len(example.sources) - texts} "
                "images), most of them distractors. Search them, read the ones you need, then answer with the "
                "ids of the sources you used.")  # fmt: skip
        return self._observe(body), {"guid": example.guid, "category": example.category}

    def _observe(self, body: str, image: np.ndarray | None = None) -> Observation:
        ex = self.example
        assert ex is not None
        data = {"goal": ex.question, "category": ex.category, "guid": ex.guid, "read": list(self._read),
                "unreadable": list(self._unreadable)}
        return {"text": f"Question: {ex.question}\n{body}", "image": image, "data": data}

    def _act(self, call: ToolCall) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        if self.example is None:
            raise RuntimeError("call reset() before step()")
        if self._metrics["answered"]:
            return self._observe("The question is already answered."), 0.0, True, False, {"error": "episode is over"}
        if call.name == "search":
            return self._search(call.args["query"])
        if call.name == "read":
            return self._read_source(call.args["source_id"].strip())
        return self._answer(call.args["text"], call.args["sources"])

    def _search(self, query: str) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        assert self.example is not None and self._index is not None
        hits = self._index.top(query, self.top_k)
        if not hits:
            result = f"search({query!r}): no source matches; try other words."
        else:
            lines = [self._describe(self.example.sources[i]) for i, _ in hits]
            result = f"search({query!r}): {len(hits)} results\n" + "\n".join(lines)
        return self._observe(result), 0.0, False, False, {"result": result}

    @staticmethod
    def _describe(source: Source) -> str:
        preview = source.text if len(source.text) <= _PREVIEW else source.text[: _PREVIEW - 3] + "..."
        return f"- {source.id} ({source.kind}) {source.title}: {preview}"

    def _read_source(self, source_id: str) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        assert self.example is not None
        source = self.example.source(source_id)
        if source is None:
            error = f"no source with id {source_id!r}; use an id from the search results"
            return self._observe(error), 0.0, False, False, {"error": error}
        image, info = None, dict[str, Any]()
        if source.load_image is not None and source_id not in self._unreadable:
            try:
                image = source.load_image()
            except WebQADataError as exc:  # a broken image line: an error once, then known, never retried
                self._unreadable[source_id] = info["error"] = str(exc)
        if source_id in self._unreadable:
            result = (f"Source {source.id} (image) {source.title}: the image is unreadable "
                      f"({self._unreadable[source_id]}). Its caption: {source.text}")
            return self._observe(result), 0.0, False, False, {**info, "result": result}
        if source_id not in self._read:
            self._read.append(source_id)
        if source.kind == "image":
            result = f"Source {source.id} (image) {source.title}. Caption: {source.text} [the image is attached]"
        else:
            result = f"Source {source.id} (text) {source.title}: {source.text}"
        return self._observe(result, image), 0.0, False, False, {"result": result}

    def _answer(self, text: str, sources: list[str]) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        ex = self.example
        assert ex is not None
        acc = accuracy(text, ex.answers, ex.keywords, ex.category)
        f1 = retrieval_f1([s.strip() for s in sources], ex.positive_ids)
        fl = self._scorer.fluency([text], [ex.answers])[0] if self._scorer and ex.answers else None
        self._metrics.update(answered=True, acc=acc, retrieval_f1=f1, fl=fl, qa=None if fl is None else fl * acc)
        success = acc >= self.success_acc
        result = f"Answered. Accuracy {acc:.2f}, retrieval F1 {f1:.2f}."
        info = {"success": success, "result": result, "metrics": dict(self._metrics)}
        return self._observe(result), acc, True, False, info

    # --- oracle and metrics ----------------------------------------------------------------

    def expert_action(self) -> ToolCall:
        """Oracle: read each positive source once (an unreadable one counts as tried), then answer
        with the reference answer."""
        if self.example is None:
            raise RuntimeError("call reset() before expert_action()")
        unread = [p for p in self.example.positive_ids if p not in self._read and p not in self._unreadable]
        if unread:
            return ToolCall("read", {"source_id": unread[0]})
        reference = self.example.answers[0] if self.example.answers else ""
        return ToolCall("answer", {"text": reference, "sources": list(self.example.positive_ids)})

    def episode_metrics(self) -> dict[str, Any]:
        """``guid``, ``category``, ``answered``, ``acc``, ``retrieval_f1``, ``fl`` and ``qa`` of the
        episode so far (an unanswered question scores 0 Acc and 0 retrieval F1)."""
        return dict(self._metrics)
