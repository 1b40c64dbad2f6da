"""``transformers:PATH_OR_ID[?device=cuda&dtype=bfloat16&...]``: local Hugging Face LLMs and VLMs.

A folder saved with ``save_pretrained`` (or a model already in the local Hugging Face cache) is
loaded with the Auto classes: ``AutoModelForImageTextToText`` + ``AutoProcessor`` when the config
is a vision-language model (LLaVA, Idefics3/SmolVLM, Qwen2-VL, ...), else ``AutoModelForCausalLM``
+ ``AutoTokenizer``. Loading is always ``local_files_only``: lma never downloads weights. A GGUF
file loads too (``transformers:/path/model.gguf``, or ``transformers:smollm2-135m`` for the
embedded model), dequantised by transformers (needs ``gguf``).

Options: ``device`` (``cpu`` default, ``cuda``), ``dtype`` (``float32`` on CPU and ``bfloat16`` on
CUDA by default; ``float16``, ``auto``), ``engine`` (``auto``: the lean Llama decoder of
:mod:`lma.models.fast_llama` where it applies, else ``generate``; or force either), ``compile``
(``1`` default on CUDA: CUDA-graph decode), ``max_batch`` (32) and ``batch_wait_ms`` (5).

Messages become a prompt through the model's chat template (a model without one is refused);
images go to the processor with the last user message. A ``schema`` is enforced token by token
with xgrammar (:mod:`lma.models.constrained`). Every request goes through one
:class:`lma.models.batching.Batcher`: concurrent ``complete`` calls from many threads (agents,
``lma serve`` clients) are answered together, one forward pass per step for the whole batch
(prompts left-padded).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from lma.core import Usage
from lma.models.base import ChatModel, Completion, Message, ModelError, Request, parse_json
from lma.models.batching import Batcher, TextStream

TRUE = ("1", "true", "yes", "on")


def resolve_source(target: str) -> tuple[str, str | None]:
    """``(folder or hub id, GGUF file name or None)`` for a spec target."""
    from lma.models.shipped import EMBEDDED, resolve_gguf

    if target in EMBEDDED:
        gguf = resolve_gguf(target)
        return str(gguf.parent), gguf.name
    path = Path(target).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), path.name
    if path.is_file():
        raise ModelError(f"{path} is a file, not a model: give the folder saved with save_pretrained, or a .gguf file")
    return (str(path) if path.is_dir() else target), None


def is_vlm(config: Any) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES and hasattr(config, "vision_config")


def load(target: str, *, device: str = "cpu", dtype: str | None = None, **options: Any) -> TransformersModel:
    """Load ``target`` from disk (see the module docstring) and wrap it as a :class:`TransformersModel`."""
    try:
        import torch
        import transformers
        from transformers import AutoConfig
    except ImportError as exc:
        raise ModelError(f"the transformers backend needs torch and transformers ({exc.name}): pip install 'lma[hf]'") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device={device} asked for, but torch sees no CUDA device")
    dtype = dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    if dtype != "auto" and not isinstance(getattr(torch, dtype, None), torch.dtype):
        raise ModelError(f"unknown dtype {dtype!r}: use float32, bfloat16, float16 or auto")
    source, gguf = resolve_source(target)
    transformers.utils.logging.disable_progress_bar()
    common: dict[str, Any] = {"local_files_only": True}
    if gguf:
        common["gguf_file"] = gguf
    try:
        config = AutoConfig.from_pretrained(source, **common)
    except (OSError, ValueError) as exc:
        raise ModelError(f"no transformers model at {target}: not a folder with a config.json, a .gguf file or a "
                         f"model in the local Hugging Face cache (lma never downloads) ({_first_line(exc)})") from None
    vision = is_vlm(config)
    try:
        if vision:
            processor = transformers.AutoProcessor.from_pretrained(source, **common)
            tokenizer, model_class = processor.tokenizer, transformers.AutoModelForImageTextToText
        else:
            processor, tokenizer = None, transformers.AutoTokenizer.from_pretrained(source, **common)
            model_class = transformers.AutoModelForCausalLM
        model = model_class.from_pretrained(source, dtype=dtype if dtype == "auto" else getattr(torch, dtype), **common)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise ModelError(f"transformers could not load {target}: {_first_line(exc)}") from None
    return TransformersModel(model.to(device).eval(), tokenizer, processor, **options)


class TransformersModel(ChatModel):
    """A loaded Hugging Face model behind the ChatModel protocol; see the module docstring."""

    def __init__(self, model: Any, tokenizer: Any, processor: Any = None, *, engine: str = "auto",
                 compile: bool | None = None, max_batch: int = 32, batch_wait: float = 0.005):
        from lma.models import fast_llama

        self.model, self.tokenizer, self.processor = model, tokenizer, processor
        self.supports_images = processor is not None
        self.template_owner = processor if processor is not None else tokenizer
        if not (getattr(self.template_owner, "chat_template", None) or getattr(tokenizer, "chat_template", None)):
            raise ModelError(f"{model.name_or_path or 'this model'} has no chat template: lma needs one to turn "
                             "messages into a prompt (set tokenizer.chat_template and save it)")
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.device = next(model.parameters()).device
        eos = model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self.eos_ids = sorted({*eos, *([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])})
        self.vocab_size = model.get_output_embeddings().weight.shape[0]
        if engine not in ("auto", "fast", "generate"):
            raise ModelError(f"unknown engine {engine!r}: use auto, fast or generate")
        if engine == "fast" and (processor is not None or not fast_llama.supports(model)):
            raise ModelError("engine=fast needs a Llama-architecture causal LM; use engine=generate")
        use_fast = engine == "fast" or (engine == "auto" and processor is None and fast_llama.supports(model))
        compile = self.device.type == "cuda" if compile is None else compile
        self.fast = fast_llama.FastLlama(model, compile=compile) if use_fast else None
        self._grammars: Any = None
        self._grammar_lock = threading.Lock()
        self.batcher = Batcher(self._run, max_batch=max_batch, max_wait=batch_wait)

    # -- the ChatModel protocol ---------------------------------------------------------------

    def complete(self, messages, *, images=(), schema=None, max_tokens=256, temperature=0.0) -> Completion:
        return self.batcher.complete(Request(messages, tuple(images), schema, max_tokens, temperature))

    def complete_batch(self, requests: list[Request]) -> list[Completion]:
        return self.batcher.complete_all(requests)

    def close(self) -> None:
        self.batcher.close()

    # -- prompts ------------------------------------------------------------------------------

    def prompt(self, messages: list[Message], n_images: int = 0) -> str:
        """The chat-templated prompt text, with ``n_images`` image slots in the last user message."""
        if n_images and not self.supports_images:
            raise ModelError(f"{self.name} is a text-only model; use a caption or ocr perceiver for images")
        return chat_prompt(self.template_owner, messages, n_images, structured=self.processor is not None,
                           name=self.name)

    def _encode(self, requests: list[Request]) -> dict[str, Any]:
        prompts = [self.prompt(r.messages, len(r.images)) for r in requests]
        if not any(r.images for r in requests):
            return dict(self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False))
        images = [[_pil(img) for img in r.images] for r in requests]
        try:
            return dict(self.processor(text=prompts, images=images, return_tensors="pt", padding=True))
        except Exception as exc:  # processors raise ValueError, TypeError, IndexError... on bad images
            raise ModelError(f"the processor of {self.name} rejected the image(s): {_first_line(exc)}") from None

    # -- generation ---------------------------------------------------------------------------

    def _run(self, requests: list[Request], streams: list[TextStream | None]) -> list[Completion]:
        """Answer a batch: one generation per group of requests that can share a forward pass."""
        import torch

        groups: dict[tuple[bool, float], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((bool(r.images), float(r.temperature)), []).append(i)
        results: list[Completion | None] = [None] * len(requests)
        with torch.no_grad():
            for (_, temperature), index in groups.items():
                answers = self._generate([requests[i] for i in index], [streams[i] for i in index], temperature)
                for i, answer in zip(index, answers):
                    results[i] = answer
        return results  # type: ignore[return-value]

    def _generate(self, requests: list[Request], streams: list[TextStream | None], temperature: float) -> list[Completion]:
        import torch

        inputs = {k: v.to(self.device) for k, v in self._encode(requests).items()}
        prompt_tokens = inputs["attention_mask"].sum(-1).tolist()
        max_new = max(r.max_tokens for r in requests)
        masker = self._masker(requests)
        on_tokens = self._streamer(streams) if any(streams) else None
        pad_id = self.tokenizer.pad_token_id
        if self.fast is not None:
            generator = torch.Generator(device=self.device).manual_seed(0) if temperature > 0 else None

            def select(last: Any, logits: Any) -> Any:
                if masker is not None:
                    logits = masker(last[:, None], logits)
                if temperature <= 0:
                    return logits.argmax(-1)
                probs = torch.softmax(logits / temperature, dim=-1)
                return torch.multinomial(probs, 1, generator=generator)[:, 0]

            try:
                rows = self.fast.generate(inputs["input_ids"], inputs["attention_mask"], max_new_tokens=max_new,
                                          eos_ids=self.eos_ids, pad_id=pad_id, select=select, on_tokens=on_tokens)
            except ValueError as exc:
                raise ModelError(str(exc)) from None
        else:
            rows = self._hf_generate(inputs, max_new, temperature, masker, on_tokens)
        completions = []
        for r, tokens, n_in in zip(requests, rows, prompt_tokens):
            text = self._decode(tokens[: r.max_tokens])
            parsed = parse_json(text) if r.schema is not None else None
            completions.append(Completion(text, parsed, Usage(int(n_in), len(tokens[: r.max_tokens]))))
        return completions

    def _hf_generate(self, inputs: dict[str, Any], max_new: int, temperature: float, masker: Any,
                     on_tokens: Any) -> list[list[int]]:
        from transformers import GenerationConfig, LogitsProcessorList

        config = GenerationConfig(max_new_tokens=max_new, do_sample=temperature > 0, eos_token_id=self.eos_ids,
                                  pad_token_id=self.tokenizer.pad_token_id,
                                  **({"temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature > 0 else {}))
        out = self.model.generate(
            **inputs, generation_config=config,
            logits_processor=LogitsProcessorList([masker]) if masker is not None else None,
            streamer=_BatchStreamer(on_tokens) if on_tokens is not None else None,
        )
        new = out[:, inputs["input_ids"].shape[1] :].tolist()
        return [_until_stop(row, set(self.eos_ids)) for row in new]

    def _masker(self, requests: list[Request]) -> Any:
        if all(r.schema is None for r in requests):
            return None
        from lma.models.constrained import GrammarCompiler, SchemaMasker

        with self._grammar_lock:
            if self._grammars is None:
                self._grammars = GrammarCompiler(self.tokenizer, self.vocab_size, self.eos_ids)
        grammars = [self._grammars.compile(r.schema) if r.schema is not None else None for r in requests]
        return SchemaMasker(grammars, self.vocab_size)

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True).strip()

    def _streamer(self, streams: list[TextStream | None]) -> Any:
        eos = set(self.eos_ids)

        def on_tokens(rows: list[list[int]]) -> None:
            for stream, tokens in zip(streams, rows):
                if stream is not None:
                    stream.update(self._decode(_until_stop(tokens, eos)))

        return on_tokens


class _BatchStreamer:
    """A ``generate`` streamer that hands every row's tokens so far to ``on_tokens`` each step."""

    def __init__(self, on_tokens: Any):
        self.on_tokens, self.rows, self.prompt_seen = on_tokens, None, False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        columns = value.reshape(value.shape[0], -1).tolist()
        self.rows = columns if self.rows is None else [a + b for a, b in zip(self.rows, columns)]
        self.on_tokens(self.rows)

    def end(self) -> None:
        pass


def _until_stop(tokens: list[int], eos: set[int]) -> list[int]:
    for i, token in enumerate(tokens):
        if token in eos:
            return tokens[: i + 1]
    return tokens


def chat_prompt(owner: Any, messages: list[Message], n_images: int = 0, *, structured: bool,
                add_generation_prompt: bool = True, name: str = "the model") -> str:
    """``messages`` through ``owner``'s chat template (a tokenizer, or a VLM's processor with
    ``structured`` content parts), ``n_images`` image slots first in the last user message.

    The one rendering of a planner's prompt for transformers models: inference and
    vision-language fine-tuning (:mod:`lma.train.vlm`) both call it.
    """
    msgs: list[dict[str, Any]] = []
    for m in messages:
        content = m.get("content") or ""
        msgs.append({"role": m["role"], "content": [{"type": "text", "text": content}] if structured else content})
    if n_images:
        users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
        if not users:
            raise ModelError("images need a user message to go with")
        msgs[users[-1]]["content"] = [{"type": "image"}] * n_images + msgs[users[-1]]["content"]
    try:
        return owner.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)
    except Exception as exc:  # jinja2 errors, template-specific ValueErrors
        raise ModelError(f"the chat template of {name} failed: {_first_line(exc)}") from None


def _pil(image: Any) -> Any:
    """An RGB frame as a PIL image; other arrays go to the processor as is, for it to judge.

    Strings are refused here: processors would read them as paths or fetch them as URLs.
    """
    from PIL import Image

    if not isinstance(image, (np.ndarray, Image.Image)):
        raise ModelError(f"an image must be an H x W x 3 uint8 array, not {type(image).__name__}")
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return Image.fromarray(image)
    return image


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def from_spec(target: str, **options: str) -> TransformersModel:
    known = {"device", "dtype", "engine", "compile", "max_batch", "batch_wait_ms"}
    unknown = set(options) - known
    if unknown:
        raise ModelError(f"unknown transformers option(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    try:
        extra: dict[str, Any] = {"max_batch": int(options.get("max_batch", 32)),
                                 "batch_wait": float(options.get("batch_wait_ms", 5)) / 1000}
    except ValueError as exc:
        raise ModelError(f"bad transformers option: {exc}") from None
    if "compile" in options:
        extra["compile"] = options["compile"].lower() in TRUE
    return load(target, device=options.get("device", "cpu"), dtype=options.get("dtype"),
                engine=options.get("engine", "auto"), **extra)
