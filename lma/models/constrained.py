"""Constrained decoding of JSON-schema output for local transformers models, with xgrammar.

The planner asks for one tool call matching a JSON schema. :class:`SchemaMasker` keeps one
xgrammar ``GrammarMatcher`` per row of a batch and, before each token is chosen, sets the logits of
every token the schema does not allow at that point to ``-inf``. So even a model with random
weights can only write a call that parses and validates; a finished row may only emit a stop
token. Rows without a schema in the same batch are left alone (mixed batches are fine).

Grammars are compiled once per schema (xgrammar's compiler caches them) against the tokenizer's
vocabulary, padded to the model's output size. Two guards keep a weak model from running on until
``max_tokens`` (an unfinished call does not parse): whitespace outside strings is not allowed, and
an integer without bounds in the schema is held to nine digits (SmolLM2-135M otherwise writes
``"element": 1000000000000...`` for as long as it is let).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from lma.models.base import ModelError


INTEGER_LIMIT = 10**9 - 1


def bounded(schema: Any) -> Any:
    """A copy of ``schema`` in which every integer without bounds gets ``±INTEGER_LIMIT``."""
    if isinstance(schema, list):
        return [bounded(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded(v) for k, v in schema.items()}
    if out.get("type") == "integer":
        out.setdefault("minimum", -INTEGER_LIMIT)
        out.setdefault("maximum", INTEGER_LIMIT)
    return out


class GrammarCompiler:
    """Compiles JSON schemas for one tokenizer and output vocabulary size."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int]):
        try:
            import xgrammar as xgr
        except ImportError as exc:
            raise ModelError("constrained decoding needs xgrammar: pip install 'lma[hf]'") from exc
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids)
        self.compiler = xgr.GrammarCompiler(info, max_threads=2)
        self.vocab_size = vocab_size
        self._lock = threading.Lock()

    def compile(self, schema: dict[str, Any]) -> Any:
        try:
            text = json.dumps(bounded(schema))
            with self._lock:
                return self.compiler.compile_json_schema(text, any_whitespace=False)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ModelError(f"cannot compile the JSON schema for constrained decoding: {str(exc)[:200]}") from None


class SchemaMasker:
    """Masks a batch's logits so each row with a grammar follows it; usable as a HF logits processor.

    Call it with the tokens chosen at the previous step (``input_ids[:, -1]`` is read; the very
    first call only masks) and the next-token scores; it returns the masked scores.
    """

    def __init__(self, grammars: list[Any | None], vocab_size: int):
        import xgrammar as xgr

        self.xgr = xgr
        self.matchers = [xgr.GrammarMatcher(g) if g is not None else None for g in grammars]
        self.rows = [i for i, m in enumerate(self.matchers) if m is not None]
        self.bitmask = xgr.allocate_token_bitmask(len(grammars), vocab_size)
        self.started = False

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if not self.rows:
            return scores
        if self.started:
            last = input_ids[:, -1].tolist()
            for i in self.rows:
                matcher = self.matchers[i]
                if not matcher.is_terminated() and not matcher.accept_token(last[i]):
                    self.matchers[i] = None  # the sampler left the grammar; stop steering this row
            self.rows = [i for i in self.rows if self.matchers[i] is not None]
        self.started = True
        active = [i for i in self.rows if not self.matchers[i].is_terminated()]
        for i in active:
            self.matchers[i].fill_next_token_bitmask(self.bitmask, i)
        if active:
            self.xgr.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device), indices=active)
        return scores
