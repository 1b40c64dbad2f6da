"""Constrained decoding of JSON-schema output for local transformers models, with xgrammar.

The planner asks for one tool call matching a JSON schema. :class:`SchemaMasker` keeps one
xgrammar ``GrammarMatcher`` per row of a batch and, before each token is chosen, sets the logits of
every token the schema does not allow at that point to ``-inf``. So even a model with random
weights can only write a call that parses and validates; a finished row may only emit a stop
token. Rows without a schema in the same batch are left alone (mixed batches are fine).

The grammar is lma's own (:mod:`lma.models.json_grammar`), the one llama.cpp decodes with, so both
local backends honour the same keywords the same way: integer bounds exactly, ``enum``/``const``,
``minLength``/``maxLength`` and ``pattern`` (a documented regex subset), ``maxItems``, and a default
length for every string and a nine-digit bound for every integer, so a weak model cannot run on
until ``max_tokens`` (SmolLM2-135M otherwise writes ``"element": 1000000000000...`` for as long as
it is let). No whitespace is free outside strings. xgrammar's own schema converter (0.2.9)
honours the bounds too, but gives strings no default length and drops a regex construct it cannot
express (a look-ahead) with only a warning on stderr; lma's grammar names what it does not enforce
(``multipleOf``, ``uniqueItems``, look-arounds, ...), logs it once and leaves it to validation and
retry.
Grammars are compiled once per schema (xgrammar's compiler caches them) against the tokenizer's
vocabulary, padded to the model's output size.
"""

from __future__ import annotations

import threading
from typing import Any

from lma.models.base import ModelError
from lma.models.json_grammar import decoding_grammar


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
            text = decoding_grammar(schema)
            with self._lock:
                return self.compiler.compile_grammar(text)
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
