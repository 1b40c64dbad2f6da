"""The Tool protocol, the ``@tool`` decorator, and LangChain interop.

A tool is what an agent can do: a ``name``, a ``description`` the planner reads, JSON-schema
``parameters``, and ``__call__(**args) -> ToolResult``. The planner's output is validated against
``parameters`` before anything runs (no model output is ever executed as code). Three ways in:

* ``@tool`` on a typed Python function: the schema comes from the signature, the description from
  the docstring (as in smolagents);
* a subclass of :class:`Tool` that sets the three attributes and implements ``run``;
* any LangChain tool (``@langchain_core.tools.tool`` or a ``BaseTool``): :func:`as_tool` wraps it
  with its schema carried over, and every lma API that takes a tool calls :func:`as_tool`.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

import jsonschema

from lma.core import ToolCall, ToolResult

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}


@functools.lru_cache(maxsize=1024)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    """A checked, reusable validator per schema (building one costs far more than validating)."""
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


class Tool:
    """Base class for tools. Subclasses set ``name``, ``description``, ``parameters`` and ``run``.

    ``parameters`` is a JSON schema of type ``object``; ``run`` receives the validated arguments
    as keyword arguments and returns a :class:`ToolResult` or a string (wrapped as ``ok``).
    Exceptions raised by ``run`` become failed results, so a tool can never crash an episode.
    """

    name: str = ""
    description: str = ""
    parameters: dict[str, Any] = {"type": "object", "properties": {}}

    def run(self, **args: Any) -> ToolResult | str:
        raise NotImplementedError

    def validate(self, args: dict[str, Any]) -> str | None:
        """Return a one-line reason why ``args`` do not fit the schema, or None."""
        if not isinstance(args, dict):
            return f"arguments of {self.name} must be an object"
        error = jsonschema.exceptions.best_match(_validator(json.dumps(self.parameters, sort_keys=True)).iter_errors(args))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path)
        return f"{self.name}: {error.message}" + (f" (at {where})" if where else "")

    def __call__(self, **args: Any) -> ToolResult:
        problem = self.validate(args)
        if problem:
            return ToolResult(ok=False, error=problem)
        try:
            out = self.run(**args)
        except Exception as exc:
            return ToolResult(ok=False, error=f"{self.name} failed: {type(exc).__name__}: {exc}")
        return out if isinstance(out, ToolResult) else ToolResult(output=str(out))

    @property
    def takes_arguments(self) -> bool:
        """Whether the schema has any argument: a tool without has exactly one call, ``name()``."""
        return bool(self.parameters.get("properties"))

    def signature(self) -> str:
        """A compact one-line form for prompts, e.g. ``click(element: integer)``."""
        props = self.parameters.get("properties", {})
        inner = ", ".join(f"{k}: {v.get('type', 'any')}" for k, v in props.items())
        return f"{self.name}({inner})"

    def __repr__(self) -> str:
        return f"<Tool {self.signature()}>"


class FunctionTool(Tool):
    """A tool made from a plain function by :func:`tool`."""

    def __init__(self, fn: Callable[..., Any], name: str, description: str, parameters: dict[str, Any]):
        self.fn, self.name, self.description, self.parameters = fn, name, description, parameters

    def run(self, **args: Any) -> ToolResult | str:
        return self.fn(**args)


def _schema_for(annotation: Any) -> dict[str, Any]:
    origin = get_origin(annotation)
    if origin is Literal:
        return {"enum": list(get_args(annotation))}
    if origin in (list, tuple, typing.Sequence):
        (item,) = get_args(annotation)[:1] or (str,)
        return {"type": "array", "items": _schema_for(item)}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return _schema_for(options[0]) if len(options) == 1 else {}
    return {"type": _JSON_TYPES[annotation]} if annotation in _JSON_TYPES else {}


def schema_from_signature(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema of ``fn``'s keyword arguments, from its type hints and defaults."""
    hints = typing.get_type_hints(fn)
    props: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        props[pname] = _schema_for(hints.get(pname, str))
        if param.default is param.empty:
            required.append(pname)
        else:
            props[pname]["default"] = param.default
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make a :class:`Tool` from a typed function; its docstring is what the planner reads.

    >>> @tool
    ... def add(a: int, b: int) -> str:
    ...     "Add two integers."
    ...     return str(a + b)
    >>> add(a=1, b=2).output
    '3'
    """

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        doc = inspect.getdoc(f) or ""
        return FunctionTool(f, name or f.__name__, doc.split("\n\n")[0], schema_from_signature(f))

    return wrap(fn) if fn is not None else wrap


class LangChainTool(Tool):
    """A LangChain ``BaseTool`` seen as an lma tool; its args schema becomes ``parameters``."""

    def __init__(self, lc_tool: Any):
        self.lc_tool = lc_tool
        self.name = lc_tool.name
        self.description = lc_tool.description or ""
        schema = dict(lc_tool.args_schema.model_json_schema()) if lc_tool.args_schema else {}
        schema.pop("title", None)
        schema.pop("description", None)
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})
        self.parameters = schema

    def run(self, **args: Any) -> str:
        out = self.lc_tool.invoke(args)
        return out if isinstance(out, str) else str(getattr(out, "content", out))


def as_tool(obj: Any) -> Tool:
    """Accept an lma tool, a LangChain tool, or a plain typed function; return an lma Tool."""
    if isinstance(obj, Tool):
        return obj
    if hasattr(obj, "args_schema") and hasattr(obj, "invoke") and hasattr(obj, "name"):
        return LangChainTool(obj)
    if callable(obj):
        return tool(obj)
    raise TypeError(f"not a tool: {obj!r}")


def validate_call(call: ToolCall, tools: list[Tool]) -> str | None:
    """Why ``call`` is not valid against ``tools`` (unknown name or bad arguments), or None."""
    for t in tools:
        if t.name == call.name:
            return t.validate(call.args)
    names = ", ".join(t.name for t in tools)
    return f"unknown tool {call.name!r}; valid now: {names}"


def tool_call_schema(tools: list[Tool]) -> dict[str, Any]:
    """The JSON schema of one call to any of ``tools``: ``{"name": ..., "args": {...}}``.

    Constrained decoders (llama.cpp grammars, xgrammar, ``response_format``) take this schema, so
    the model can only emit a known tool name with arguments that fit that tool.
    """
    options = []
    for t in tools:
        args = {k: v for k, v in t.parameters.items() if k not in ("title", "$schema")}
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": t.name}, "args": args},
                "required": ["name", "args"],
                "additionalProperties": False,
            }
        )
    return options[0] if len(options) == 1 else {"anyOf": options}
