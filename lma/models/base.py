"""The ChatModel protocol, model spec strings, and the shared parts of every backend.

A model is named by a spec string ``BACKEND:TARGET[?key=value&...]``, for example
``llamacpp:smollm2-135m`` (the embedded default), ``openai:http://127.0.0.1:8000/v1#name``,
``transformers:/path/to/model?device=cuda&dtype=bfloat16`` or ``scripted:outputs.jsonl``.
:func:`load_model` parses it, finds the backend in the model registry and caches the loaded model
per process, so many agents in one process share one set of weights.

A backend implements :meth:`ChatModel.complete`. ``schema`` asks for constrained decoding: the
output must be JSON matching the schema, and ``Completion.parsed`` holds it. Backends that can
batch override :meth:`ChatModel.complete_batch`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lma.core import Usage
from lma.errors import LmaError
from lma.registry import models, parse_spec

DEFAULT_MODEL = "llamacpp:smollm2-135m"

Message = dict[str, Any]  # {"role": "system" | "user" | "assistant", "content": str}


class ModelError(LmaError):
    """A model that cannot be loaded or does not answer; the message says which and why."""


@dataclass
class Completion:
    """A model's answer: raw ``text``, ``parsed`` JSON when a schema was given, and its cost."""

    text: str
    parsed: Any = None
    usage: Usage = field(default_factory=Usage)


@dataclass
class Request:
    """One completion request, as queued by :meth:`ChatModel.complete_batch`."""

    messages: list[Message]
    images: tuple[np.ndarray, ...] = ()
    schema: dict[str, Any] | None = None
    max_tokens: int = 256
    temperature: float = 0.0


class ChatModel:
    """Base class of model backends. Subclasses set ``name`` and implement ``complete``."""

    name: str = "model"
    supports_images: bool = False

    def complete(
        self,
        messages: list[Message],
        *,
        images: tuple[np.ndarray, ...] | list[np.ndarray] = (),
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion:
        raise NotImplementedError

    def complete_batch(self, requests: list[Request]) -> list[Completion]:
        """Answer many requests; the default runs them one by one."""
        return [
            self.complete(
                r.messages, images=r.images, schema=r.schema, max_tokens=r.max_tokens, temperature=r.temperature
            )
            for r in requests
        ]

    def check(self) -> None:
        """Raise :class:`ModelError` when the model cannot be reached now (runs call it before the
        first episode); local models are loaded already, so there is nothing to check."""

    def close(self) -> None:
        """Release weights, processes or connections."""


def parse_json(text: str) -> Any:
    """Parse a model's JSON output, tolerating text around one JSON object; None if impossible."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        pass
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        try:
            return json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            return None
    return None


def split_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """``"backend:target?k=v"`` -> ``("backend", "target", {"k": "v"})`` (:func:`lma.registry.parse_spec`)."""
    try:
        parsed = parse_spec(spec, "model")
    except LmaError as exc:
        raise ModelError(str(exc)) from None
    if not parsed.target:
        raise ModelError(f"malformed model spec {spec!r}: expected BACKEND:TARGET, e.g. {DEFAULT_MODEL}")
    return parsed.name, parsed.target, parsed.options


_cache: dict[str, ChatModel] = {}
_cache_lock = threading.Lock()


def load_model(spec: str | ChatModel | None = None) -> ChatModel:
    """The model for ``spec`` (default: the embedded model), loaded once per process."""
    if isinstance(spec, ChatModel):
        return spec
    spec = spec or DEFAULT_MODEL
    backend, target, options = split_spec(spec)
    with _cache_lock:
        if spec not in _cache:
            model = models.make(backend, target=target, **options)
            model.name = spec
            _cache[spec] = model
        return _cache[spec]
