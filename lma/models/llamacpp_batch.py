"""Continuous batching for llama.cpp: concurrent requests decoded together in one context.

Why: the episodes of ``lma eval`` share one model server, and each asks it for one call at a
time. Answered one by one, N episodes wait in line; decoded together, one step over N sequences
reads the weights once for all of them, so on a small CPU N rows cost little more than one, and
one process using every core beats N processes fighting over them.

How: one llama.cpp context over the model's weights with ``n_seq`` sequences (its KV cells split
evenly, each sequence as long as the model's ``n_ctx``), owned by one loop thread. At each step
the loop admits queued requests into free sequences, decodes one ``llama_batch`` holding the next
token of every generating row and the next chunk of the prompt of every row still reading it (at
most ``n_batch`` tokens in all), and samples each row that has logits with its own sampler chain:
the chain of llama-cpp-python's single-sequence path (its defaults, the row's grammar, greedy at
temperature 0), so a batched row's text equals what :meth:`LlamaCppModel.complete` gives. A row
leaves when it ends and a new request joins at the next step: no row waits for the longest one in
its group, and requests that arrive one after the other are still decoded together.

Prefix reuse: a sequence keeps its KV after its row ends. A new request takes the free sequence
whose tokens share the longest prefix with its prompt and evaluates only the rest
(``Usage.tokens_cached``); an episode's next step, whose prompt extends its last one (prompt layout
2), finds its own sequence again.

Errors stay with their row: a prompt longer than a sequence's context, images, or a schema that
:mod:`lma.models.json_grammar` cannot compile fail that request alone with a :class:`ModelError`; a decode that fails fails the
rows in it and clears their sequences, and the loop goes on.
"""

from __future__ import annotations

import ctypes
import queue
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from lma.core import Usage
from lma.errors import describe_error
from lma.models.base import Completion, ModelError, Request, parse_json
from lma.models.batching import RequestQueue, TextStream
from lma.models.json_grammar import decoding_grammar



def chat_formatter(llm: Any) -> Any | None:
    """The formatter llama-cpp-python's chat path uses for ``llm``'s own GGUF chat template.

    None when the model uses another chat format (a handler, a named format): the batched path
    then is not offered, since its prompts would not be the single path's.
    """
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template or llm.chat_handler is not None or llm.chat_format != "chat_template.default":
        return None
    eos, bos = llm.token_eos(), llm.token_bos()
    text = llm._model.token_get_text
    return Jinja2ChatFormatter(template=template, eos_token=text(eos) if eos != -1 else "",
                               bos_token=text(bos) if bos != -1 else "", stop_token_ids=[eos])


@dataclass
class _Sequence:
    """One KV sequence of the context and the tokens whose KV it holds now."""

    seq_id: int
    tokens: list[int] = field(default_factory=list)
    last_used: float = 0.0


@dataclass
class _Row:
    """One request being answered: its prompt, sequence, sampler and output so far."""

    request: Request
    future: Future
    stream: TextStream | None
    submitted: float
    prompt: list[int] = field(default_factory=list)
    stops: list[bytes] = field(default_factory=list)
    max_tokens: int = 0
    sampler: Any = None
    seq: _Sequence | None = None
    pending: list[int] = field(default_factory=list)  # to evaluate next: a prompt suffix, then the last token
    out: list[int] = field(default_factory=list)
    cached: int = 0


class BatchedLlama(RequestQueue):
    """Answers requests for ``llm``'s weights with continuous batching; see the module docstring.

    The interface is :class:`lma.models.batching.Batcher`'s (``submit``, ``complete``,
    ``complete_all``, ``close``, ``max_batch``: the same :class:`~lma.models.batching.RequestQueue`),
    so ``lma serve``'s app uses it as the model's own batcher. ``n_threads`` applies to both
    decoding and prompt processing.
    """

    max_wait = 0.0  # Batcher's knob, kept settable for `lma serve`: a request joins the next step, nothing waits
    thread_name = "lma-llamacpp-batch"
    join_timeout = 120.0

    def __init__(self, llm: Any, formatter: Any, *, n_seq: int = 4, n_threads: int = 1):
        if n_seq < 1:
            raise ModelError("n_parallel must be at least 1")
        super().__init__()
        self.llm, self.formatter, self.n_seq, self.n_threads = llm, formatter, n_seq, n_threads
        self.max_batch = n_seq
        self._ctx: Any = None  # made by the loop thread on first use: the KV of n_seq sequences is not small
        self._sequences = [_Sequence(i) for i in range(n_seq)]
        self._rows: list[_Row] = []

    def _queued(self, request: Request, stream: TextStream | None) -> _Row:
        return _Row(request, Future(), stream, time.perf_counter())

    def _release(self) -> None:
        if self._ctx is not None:
            self._batch.close()
            self._ctx.close()
            self._ctx = None

    # -- the loop -------------------------------------------------------------------------------

    def _loop(self) -> None:
        stopping = False
        while self._rows or not stopping:
            stopping = self._admit(block=not self._rows) or stopping
            if self._rows:
                try:
                    self._step()
                except Exception as exc:  # a failed decode: fail its rows, clear their sequences, go on
                    error = exc if isinstance(exc, ModelError) else ModelError(describe_error(exc))
                    for row in self._rows:
                        self._forget(row.seq)
                        self._fail(row, error)
                    self._rows = []

    def _admit(self, *, block: bool) -> bool:
        """Move queued requests into free sequences; True once the stop mark was taken."""
        while len(self._rows) < min(self.max_batch, self.n_seq):
            try:
                row = self._queue.get() if block else self._queue.get_nowait()
            except queue.Empty:
                return False
            if row is None:
                return True
            block = False
            try:
                self._start(row)
            except Exception as exc:
                self._fail(row, exc if isinstance(exc, ModelError) else ModelError(describe_error(exc)))
                continue
            self._rows.append(row)
        return False

    def _start(self, row: _Row) -> None:
        """Tokenize the row's prompt, pick its sequence, drop that sequence's KV past the shared prefix."""
        request = row.request
        if request.images:
            raise ModelError("this llama.cpp model is text-only; use a caption or ocr perceiver for images")
        if self._ctx is None:
            self._open()
        chat = self.formatter(messages=request.messages)
        row.prompt = self.llm.tokenize(chat.prompt.encode("utf-8"), add_bos=not chat.added_special, special=True)
        room = self._n_ctx_seq - len(row.prompt)
        if room <= 0:
            raise ModelError(f"the prompt is {len(row.prompt)} tokens; the model's context holds {self._n_ctx_seq} "
                             "(raise n_ctx in the model spec, or shorten the prompt)")
        row.max_tokens = min(request.max_tokens, room)
        row.stops = [s.encode("utf-8") for s in ([chat.stop] if isinstance(chat.stop, str) else chat.stop or [])]
        # Llama.create_chat_completion's sampler chain (its defaults), so rows sample as the single path does
        row.sampler = self.llm._init_sampler(temp=request.temperature, grammar=self._grammar(request.schema))
        busy = {id(r.seq) for r in self._rows}
        free = [s for s in self._sequences if id(s) not in busy]
        seq = max(free, key=lambda s: (common_prefix(s.tokens, row.prompt), -s.last_used))
        keep = min(common_prefix(seq.tokens, row.prompt), len(row.prompt) - 1)  # the last token gives the logits
        self._remove(seq, keep)
        row.seq, row.cached, row.pending = seq, keep, row.prompt[keep:]

    def _grammar(self, schema: dict[str, Any] | None) -> Any:
        """The single path's grammar for ``schema`` (lma's converter); a SchemaGrammarError fails the row."""
        if schema is None:
            return None
        from llama_cpp import LlamaGrammar

        return LlamaGrammar.from_string(decoding_grammar(schema), verbose=False)

    def _step(self) -> None:
        """One decode over every row: generating rows' next token first, then prompt chunks."""
        import llama_cpp

        batch, n, sampled = self._batch.batch, 0, []
        for row in sorted(self._rows, key=lambda r: len(r.pending) > 1):
            take = min(len(row.pending), self._n_batch - n)
            if take == 0:
                break
            assert row.seq is not None
            start = len(row.seq.tokens)
            for k in range(take):
                batch.token[n], batch.pos[n], batch.n_seq_id[n] = row.pending[k], start + k, 1
                batch.seq_id[n][0], batch.logits[n] = row.seq.seq_id, False
                n += 1
            row.seq.tokens += row.pending[:take]
            row.pending = row.pending[take:]
            if not row.pending:
                batch.logits[n - 1] = True
                sampled.append((row, n - 1))
        batch.n_tokens = n
        code = llama_cpp.llama_decode(self._ctx.ctx, batch)
        if code != 0:
            raise ModelError(f"llama.cpp could not decode a batch of {n} tokens (llama_decode returned {code})")
        for row, index in sampled:
            token = row.sampler.sample(self._ctx, index)
            if llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token):
                self._finish(row)
                continue
            row.out.append(token)
            text = self._text(row)
            if len(row.out) >= row.max_tokens or any(s in text for s in row.stops):
                self._finish(row)
            else:
                row.pending = [token]
                if row.stream is not None:
                    row.stream.update(text.decode("utf-8", errors="ignore"))

    def _text(self, row: _Row) -> bytes:
        text = self.llm.detokenize(row.out, prev_tokens=row.prompt)
        cuts = [text.index(s) for s in row.stops if s in text]
        return text[: min(cuts)] if cuts else text

    def _finish(self, row: _Row) -> None:
        text = self._text(row).decode("utf-8", errors="ignore")
        self._rows.remove(row)
        row.sampler.close()
        assert row.seq is not None
        row.seq.last_used = time.perf_counter()
        usage = Usage(len(row.prompt), len(row.out), time.perf_counter() - row.submitted, row.cached)
        if row.stream is not None:
            row.stream.update(text, final=True)
        row.future.set_result(Completion(text, parse_json(text) if row.request.schema is not None else None, usage))

    def _fail(self, row: _Row, error: ModelError) -> None:
        if row.sampler is not None:
            row.sampler.close()
        row.future.set_exception(error)

    # -- the context ----------------------------------------------------------------------------

    def _open(self) -> None:
        """The context: the single path's parameters, ``n_seq`` sequences of ``n_ctx`` each."""
        import llama_cpp
        from llama_cpp._internals import LlamaBatch, LlamaContext

        params = llama_cpp.llama_context_params.from_buffer_copy(self.llm.context_params)
        params.n_ctx, params.n_seq_max, params.kv_unified = self.llm.n_ctx() * self.n_seq, self.n_seq, False
        params.n_threads = params.n_threads_batch = self.n_threads
        try:
            self._ctx = LlamaContext(model=self.llm._model, params=params, verbose=False)
        except ValueError as exc:
            raise ModelError(f"llama.cpp could not make a context of {self.n_seq} sequences: {exc}") from None
        adapter = getattr(self.llm, "_lora_adapter", None)  # a LoRA is set per context, not per model
        if adapter is not None:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
            scales = (ctypes.c_float * 1)(self.llm.lora_scale)
            if llama_cpp.llama_set_adapters_lora(self._ctx.ctx, adapters, 1, scales):
                raise ModelError(f"llama.cpp could not apply the adapter {self.llm.lora_path} to the batch context")
        self._n_ctx_seq = llama_cpp.llama_n_ctx_seq(self._ctx.ctx)
        self._n_batch = params.n_batch
        self._batch = LlamaBatch(n_tokens=self._n_batch, embd=0, n_seq_max=1, verbose=False)

    def _remove(self, seq: _Sequence, keep: int) -> None:
        """Drop the sequence's KV from position ``keep`` on."""
        if keep < len(seq.tokens):
            self._ctx.kv_cache_seq_rm(seq.seq_id, keep, -1)
            del seq.tokens[keep:]

    def _forget(self, seq: _Sequence | None) -> None:
        if seq is not None and self._ctx is not None:
            self._ctx.kv_cache_seq_rm(seq.seq_id, 0, -1)
            seq.tokens.clear()


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n

