"""``langchain:MODULE:CLASS[?key=value&...]``: any LangChain ``BaseChatModel`` as an lma model.

The class is imported and built with the query options as keyword arguments (values that read
as JSON become numbers, booleans or lists; the rest stay strings), e.g.
``langchain:langchain_openai:ChatOpenAI?model=gpt-4o-mini`` or
``langchain:langchain_ollama:ChatOllama?model=qwen2.5vl``. Images are sent as ``image_url``
content parts (PNG data URLs) when the model's profile says it takes images (``images=1`` or
``images=0`` overrides).

A tool-call schema from the planner (``{"name": ..., "args": ...}`` per tool, see
:func:`lma.tools.base.tool_call_schema`) is handed to the model's own tool calling
(``bind_tools(..., tool_choice="any")``) where the model has it, and its first tool call becomes the
answer; any other schema goes through ``with_structured_output``; a model with neither is asked
for JSON in the prompt and its answer parsed. The planner validates the result either way.
"""

from __future__ import annotations

import importlib
import json
import time
from typing import Any

from lma.core import Usage
from lma.models.base import ChatModel, Completion, Message, ModelError, parse_json
from lma.models.openai_compat import image_data_url

TRUE = ("1", "true", "yes", "on")


def to_langchain(messages: list[Message], images: Any = ()) -> list[Any]:
    """lma messages as LangChain messages; images join the last user message as data URLs."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    out: list[Any] = []
    for m in messages:
        if m["role"] not in kinds:
            raise ModelError(f"a LangChain model takes system, user and assistant messages, not {m['role']!r}")
        out.append(kinds[m["role"]](content=m.get("content") or ""))
    if len(images):
        last = max(i for i, m in enumerate(messages) if m["role"] == "user")
        parts = [{"type": "text", "text": out[last].content}]
        parts += [{"type": "image_url", "image_url": {"url": image_data_url(img)}} for img in images]
        out[last] = HumanMessage(content=parts)
    return out


def tool_options(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]] | None:
    """``[(tool name, args schema)]`` when ``schema`` is a tool-call schema, else None."""
    options = schema.get("anyOf", [schema])
    found = []
    for option in options:
        props = option.get("properties", {}) if isinstance(option, dict) else {}
        name = props.get("name", {}).get("const") if isinstance(props.get("name"), dict) else None
        if not isinstance(name, str) or "args" not in props:
            return None
        found.append((name, props["args"]))
    return found


def _text(message: Any) -> str:
    content = message.content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


class LangChainModel(ChatModel):
    """A LangChain chat model behind the ChatModel protocol; see the module docstring."""

    def __init__(self, chat: Any, *, images: bool | None = None):
        self.chat = chat
        profile = getattr(chat, "profile", None) or {}
        self.supports_images = bool(profile.get("image_inputs", False)) if images is None else images

    def complete(self, messages, *, images=(), schema=None, max_tokens=256, temperature=0.0) -> Completion:
        if len(images) and not self.supports_images:
            raise ModelError(f"{self.name} does not take images (add images=1 to the spec if it does)")
        lc_messages = to_langchain(messages, images)
        start = time.perf_counter()
        try:
            if schema is None:
                message = self.chat.invoke(lc_messages)
                text, parsed = _text(message), None
            else:
                message, text, parsed = self._structured(lc_messages, schema)
        except ModelError:
            raise
        except Exception as exc:  # providers raise their own error types
            raise ModelError(f"{self.name} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}") from None
        usage = getattr(message, "usage_metadata", None) or {}
        return Completion(text, parsed, Usage(usage.get("input_tokens", 0), usage.get("output_tokens", 0),
                                              time.perf_counter() - start))

    def _structured(self, lc_messages: list[Any], schema: dict[str, Any]) -> tuple[Any, str, Any]:
        options = tool_options(schema)
        try:
            if options is not None:
                tools = [{"type": "function", "function": {"name": n, "description": n, "parameters": p}} for n, p in options]
                message = self.chat.bind_tools(tools, tool_choice="any").invoke(lc_messages)
                if message.tool_calls:
                    call = message.tool_calls[0]
                    parsed = {"name": call["name"], "args": call["args"]}
                    return message, json.dumps(parsed), parsed
                return message, _text(message), parse_json(_text(message))
            named = {"title": "answer", "description": "the answer", **schema}
            out = self.chat.with_structured_output(named, include_raw=True).invoke(lc_messages)
            return out["raw"], _text(out["raw"]), out["parsed"]
        except NotImplementedError:  # no tool calling: ask for JSON in words
            from langchain_core.messages import SystemMessage

            ask = SystemMessage(content=f"Answer only with JSON matching this schema: {json.dumps(schema)}")
            message = self.chat.invoke([ask, *lc_messages])
            return message, _text(message), parse_json(_text(message))


def _option(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def from_spec(target: str, **options: str) -> LangChainModel:
    module_name, _, class_name = target.partition(":")
    if not module_name or not class_name:
        raise ModelError(f"langchain spec needs MODULE:CLASS, e.g. langchain:langchain_openai:ChatOpenAI (got {target!r})")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise ModelError(f"cannot import {module_name} for langchain:{target} ({exc.name} is not installed)") from None
    except AttributeError:
        raise ModelError(f"{module_name} has no class {class_name}") from None
    from langchain_core.language_models import BaseChatModel

    if not (isinstance(cls, type) and issubclass(cls, BaseChatModel)):
        raise ModelError(f"{target} is not a LangChain BaseChatModel")
    images = options.pop("images", None)
    try:
        chat = cls(**{k: _option(v) for k, v in options.items()})
    except Exception as exc:  # pydantic ValidationError and provider checks
        raise ModelError(f"cannot build {class_name}: {str(exc).splitlines()[0][:300]}") from None
    return LangChainModel(chat, images=None if images is None else images.lower() in TRUE)
