"""Any lma model as a LangChain chat model, with tool calling: :class:`LmaChatModel`.

LangChain users can drive a local lma model (the embedded SmolLM2, a transformers LLM or VLM, an
OpenAI-compatible server, a scripted model) from their own code, e.g.
``langchain.agents.create_agent(LmaChatModel(model="llamacpp:smollm2-135m"), tools=[...])``.

Tool calling is constrained decoding: ``bind_tools`` records the tools, and each call asks the lma
model for JSON matching :func:`lma.tools.base.tool_call_schema` of those tools, so a backend with
constrained decoding (llama.cpp, transformers) can only emit a known tool with valid arguments.
Unless the tool choice forces a tool (``"any"``, ``"required"`` or a tool's name), one more option
is offered, ``final_answer(answer)``, which becomes a plain reply: that is how an agent loop ends.
Tool results (``ToolMessage``) go back to the model as user messages; images in ``image_url``
content parts (data URLs only) go to models that take images.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

from lma.models.base import ChatModel, Message, load_model, parse_json
from lma.models.openai_compat import image_from_data_url
from lma.planning.planner import SYSTEM_PROMPT, coerce_call
from lma.errors import LmaError
from lma.tools.base import Tool, tool_call_schema, validate_call

FINAL = "final_answer"


def _tool(name: str, description: str, parameters: dict[str, Any]) -> Tool:
    t = Tool()
    t.name, t.description = name, description
    t.parameters = {"type": "object", "properties": {}, **parameters}
    return t


FINAL_TOOL = _tool(FINAL, "reply to the user without calling a tool",
                   {"properties": {"answer": {"type": "string"}}, "required": ["answer"], "additionalProperties": False})


def to_lma(messages: list[BaseMessage]) -> tuple[list[Message], list[Any]]:
    """LangChain messages as lma messages, plus the images found in them (decoded data URLs)."""
    out: list[Message] = []
    images: list[Any] = []
    for m in messages:
        text = m.content
        if isinstance(text, list):
            parts = []
            for p in text:
                if isinstance(p, dict) and p.get("type") == "image_url":
                    url = p["image_url"]["url"] if isinstance(p["image_url"], dict) else p["image_url"]
                    try:
                        images.append(image_from_data_url(url))
                    except ValueError as exc:
                        raise LmaError(str(exc)) from None
                else:
                    parts.append(p.get("text", "") if isinstance(p, dict) else str(p))
            text = "\n".join(parts)
        if isinstance(m, ToolMessage):
            out.append({"role": "user", "content": f"Result of tool {m.name or m.tool_call_id}: {text}"})
        elif isinstance(m, AIMessage):
            calls = [json.dumps({"name": c["name"], "args": c["args"]}) for c in m.tool_calls]
            out.append({"role": "assistant", "content": "\n".join(calls) or text})
        else:
            role = {"system": "system", "human": "user"}.get(m.type, "user")
            out.append({"role": role, "content": text})
    return out, images


class LmaChatModel(BaseChatModel):
    """An lma model (spec string or :class:`ChatModel`) as a LangChain chat model."""

    model: Any = None  # a spec such as "llamacpp:smollm2-135m", a ChatModel, or None for the default
    max_tokens: int = 256
    temperature: float = 0.0
    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def _llm_type(self) -> str:
        return "lma"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model if isinstance(self.model, str) or self.model is None else self.model.name}

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        """Bind tools (LangChain tools, functions or OpenAI tool dicts) for constrained tool calls."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, *, tools: list[dict[str, Any]] | None = None,
                  tool_choice: Any = None, **kwargs: Any) -> ChatResult:
        chat: ChatModel = load_model(self.model)
        lma_messages, images = to_lma(messages)
        offered = self._offered(tools or [], tool_choice)
        schema = tool_call_schema(offered) if offered else None
        if offered:
            listing = "\n".join(f"- {t.signature()}: {t.description}" for t in offered)
            lma_messages = [{"role": "system", "content": f"{SYSTEM_PROMPT}\nTools:\n{listing}"}, *lma_messages]
        completion = chat.complete(lma_messages, images=tuple(images), schema=schema,
                                   max_tokens=self.max_tokens, temperature=self.temperature)
        message = self._message(completion.text, completion.parsed, offered)
        message.usage_metadata = {"input_tokens": completion.usage.tokens_in, "output_tokens": completion.usage.tokens_out,
                                  "total_tokens": completion.usage.tokens_in + completion.usage.tokens_out}
        return ChatResult(generations=[ChatGeneration(message=message)],
                          llm_output={"model": chat.name, "latency": completion.usage.latency})

    @staticmethod
    def _offered(tools: list[dict[str, Any]], tool_choice: Any) -> list[Tool]:
        """The tools the model may call now, per LangChain's ``tool_choice`` conventions."""
        if not tools or tool_choice == "none":
            return []
        offered = [_tool(t["function"]["name"], t["function"].get("description", ""), t["function"].get("parameters") or {})
                   for t in tools]
        if isinstance(tool_choice, dict):  # {"type": "function", "function": {"name": ...}}
            tool_choice = tool_choice.get("function", {}).get("name")
        if tool_choice in ("any", "required", True):
            return offered
        if isinstance(tool_choice, str) and tool_choice != "auto":
            return [t for t in offered if t.name == tool_choice] or offered
        return [*offered, FINAL_TOOL]

    @staticmethod
    def _message(text: str, parsed: Any, offered: list[Tool]) -> AIMessage:
        if not offered:
            return AIMessage(content=text)
        call = coerce_call(parsed if parsed is not None else parse_json(text))
        if call is None or validate_call(call, offered) is not None:
            return AIMessage(content=text)  # not a valid call: LangChain sees a plain reply
        if call.name == FINAL:
            return AIMessage(content=str(call.args.get("answer", "")))
        return AIMessage(content="", tool_calls=[{"name": call.name, "args": call.args, "id": f"call_{uuid.uuid4().hex[:12]}"}])
