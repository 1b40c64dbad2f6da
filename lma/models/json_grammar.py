"""lma's own JSON Schema -> GBNF converter, for the subset of JSON Schema that tool schemas use.

Constrained decoding promises that every answer is a valid tool call. llama-cpp-python's own
converter ignores ``minimum``/``maximum`` (SmolLM2-135M wrote 15 for a 1..5 argument in 3 of 4
tries) and lets strings run until ``max_tokens``, so lma compiles the schema itself. The grammar
(GBNF, read by llama.cpp and by xgrammar) accepts only JSON that validates against the schema:

* ``object``: ``properties``, ``required``; only declared properties are written (required ones
  first, in order, then any optional ones in order), whatever ``additionalProperties`` says;
* ``string``: ``enum``, ``const``, ``minLength``, ``maxLength`` and ``pattern`` (the regex subset
  of :mod:`lma.models.regex_grammar`). A string without ``maxLength`` is held to
  :data:`DEFAULT_MAX_STRING` characters, so a weak model cannot write until ``max_tokens``;
* ``integer``: ``minimum``/``maximum`` and their exclusive forms, exactly: the digit grammar of the
  range (:mod:`lma.models.range_grammar`: ``[7, 1234]`` is six digit-class alternatives, not
  1,228 literals). Without bounds, ``±INTEGER_LIMIT`` (nine digits);
* ``number``: plain decimals (no exponent, at most :data:`FRACTION_DIGITS` decimals), bounded like
  integers; whole-number bounds are exact, other bounds are widened to whole numbers;
* ``boolean``, ``null``, ``enum``/``const`` of any JSON values, ``type`` lists, ``nullable``;
* ``array``: ``items``, ``minItems``, ``maxItems`` (default :data:`DEFAULT_MAX_ITEMS`);
* ``anyOf``/``oneOf`` (alternatives; ``oneOf`` overlap is left to validation), one-element
  ``allOf``, local ``$ref`` into ``$defs``/``definitions`` (not recursive ones).

No whitespace is free: outside strings the grammar writes exactly the separators of
``json.dumps`` (``", "`` and ``": "``), the form the planner's prompt shows past calls in and
``lma finetune`` trains on. Annotations (``title``, ``description``, ``default``, ``format``, ...)
constrain nothing (lma's validation does not check ``format`` either). Any other keyword is
*loose*: the grammar enforces everything else and :attr:`JsonGrammar.loose` names what it does not
(one line from :meth:`JsonGrammar.note`), so the backend can say so and the planner's validation
and retry covers it. ``strict=True`` refuses such a schema instead. A schema that no value can
satisfy, or one that is not JSON Schema, is a one-line :class:`SchemaGrammarError`.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import jsonschema

from lma.models.base import ModelError
from lma.models.range_grammar import integer_range
from lma.models.regex_grammar import RegexUnsupported, json_literal, pattern_piece

DEFAULT_MAX_STRING = 100
DEFAULT_MAX_ITEMS = 16
INTEGER_LIMIT = 10**9 - 1
FRACTION_DIGITS = 6
GENERIC_DEPTH = 2  # how deep a value without a schema may nest
SEPARATORS = (", ", ": ")

ANNOTATIONS = {"title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
               "readOnly", "writeOnly", "format", "contentMediaType", "contentEncoding", "$defs", "definitions"}
SUPPORTED = {"type", "enum", "const", "nullable", "properties", "required", "additionalProperties", "items",
             "minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
             "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref"}
TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
CHAR = '([^\\x22\\x5C\\x00-\\x1F] | "\\x5C" ([\\x22\\x5C/bfnrt] | "u" [0-9a-fA-F]{4,4}))'


log = logging.getLogger(__name__)
_said: set[str] = set()


class SchemaGrammarError(ModelError):
    """A schema the converter cannot turn into a grammar (or, with ``strict``, not wholly)."""


@dataclass(frozen=True)
class JsonGrammar:
    """The GBNF text (start rule ``root``) and the keywords it leaves to validation."""

    gbnf: str
    loose: tuple[str, ...] = ()

    def note(self) -> str | None:
        """One line naming what the grammar does not enforce, or None when it enforces it all."""
        if not self.loose:
            return None
        return (f"constrained decoding does not enforce {', '.join(self.loose)}: "
                "those are checked when the answer is validated, and an invalid answer is retried")


def schema_grammar(schema: Any, *, max_string: int = DEFAULT_MAX_STRING, max_items: int = DEFAULT_MAX_ITEMS,
                   strict: bool = False) -> JsonGrammar:
    """Compile ``schema`` to a :class:`JsonGrammar` (see the module docstring); cached per schema."""
    try:
        key = json.dumps(schema)  # not sorted: the order of properties is the order they are written in
    except (TypeError, ValueError):
        raise SchemaGrammarError("the schema is not JSON data") from None
    grammar = _compiled(key, max_string, max_items)
    if strict and grammar.loose:
        raise SchemaGrammarError(f"the schema uses keywords lma's grammar cannot enforce: {', '.join(grammar.loose)}")
    return grammar


def decoding_grammar(schema: Any) -> str:
    """The GBNF a backend decodes ``schema`` with; what it leaves to validation is logged once."""
    grammar = schema_grammar(schema)
    note = grammar.note()
    if note and note not in _said:
        _said.add(note)
        log.warning(note)
    return grammar.gbnf


@functools.lru_cache(maxsize=256)
def _compiled(key: str, max_string: int, max_items: int) -> JsonGrammar:
    schema = json.loads(key)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaGrammarError(f"not a valid JSON schema: {exc.message}") from None
    builder = _Builder(schema, max_string, max_items)
    root = builder.value(schema, "")
    rules = [f"root ::= {root}"] + [f"{name} ::= {body}" for name, body in builder.rules.items()]
    return JsonGrammar("\n".join(rules) + "\n", tuple(dict.fromkeys(builder.loose)))


class _Builder:
    """Walks a schema, collecting named rules (shared when equal) and loose keywords."""

    def __init__(self, root: Any, max_string: int, max_items: int):
        self.root, self.max_string, self.max_items = root, max_string, max_items
        self.rules: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self.loose: list[str] = []
        self._refs: list[str] = []
        self.comma, self.colon = (json_literal(s) for s in SEPARATORS)

    @property
    def char(self) -> str:
        """The rule of one character inside a JSON string (made on first use)."""
        return self.rule(CHAR)

    def rule(self, body: str) -> str:
        """A rule named for ``body``, reused wherever the same body is needed again."""
        if body not in self._names:
            self._names[body] = name = f"r{len(self._names)}"
            self.rules[name] = body
        return self._names[body]

    def lax(self, keyword: str, path: str) -> None:
        self.loose.append(f"{keyword} (at {path or '/'})")

    def value(self, schema: Any, path: str) -> str:
        if schema is True or schema == {}:
            return self.generic(GENERIC_DEPTH)
        if schema is False:
            raise SchemaGrammarError(f"the schema at {path or '/'} is false: no value satisfies it")
        for keyword in sorted(set(schema) - SUPPORTED - ANNOTATIONS):
            self.lax(keyword, path)
        if "$ref" in schema:
            return self.ref(schema, path)
        if "allOf" in schema:
            parts = schema["allOf"]
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            if len(parts) == 1 and isinstance(parts[0], dict) and not set(parts[0]) & set(rest):
                return self.value({**rest, **parts[0]}, path)
            self.lax("allOf", path)
            return self.value(rest, path)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return self.alternatives(schema, keyword, path)
        if "const" in schema or "enum" in schema:
            return self.literals(schema, path)
        if schema.get("nullable") is True:
            return f'({self.value({k: v for k, v in schema.items() if k != "nullable"}, path)} | "null")'
        kind = schema.get("type", _implied_type(schema))
        if isinstance(kind, list):
            return "(" + " | ".join(self.value({**schema, "type": t}, path) for t in kind) + ")"
        if kind is None:
            return self.generic(GENERIC_DEPTH)
        if kind not in TYPES:
            raise SchemaGrammarError(f"unknown type {kind!r} at {path or '/'}")
        return self.rule(getattr(self, f"_{kind}")(schema, path))

    def ref(self, schema: dict[str, Any], path: str) -> str:
        target = schema["$ref"]
        if not target.startswith("#") or target in self._refs:
            self.lax(f"$ref {target!r} (remote or recursive)", path)
            return self.generic(GENERIC_DEPTH)
        node: Any = self.root
        for part in filter(None, target[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaGrammarError(f"the $ref {target!r} at {path or '/'} points nowhere")
            node = node[part]
        self._refs.append(target)
        try:
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return self.value({"allOf": [node], **rest} if set(rest) - ANNOTATIONS else node, path)
        finally:
            self._refs.pop()

    def alternatives(self, schema: dict[str, Any], keyword: str, path: str) -> str:
        if keyword == "oneOf":
            self.lax("oneOf exclusivity", path)
        rest = {k: v for k, v in schema.items() if k != keyword and k not in ANNOTATIONS}
        options = []
        for i, option in enumerate(schema[keyword]):
            if isinstance(option, dict) and set(option) & set(rest):
                self.lax(f"{keyword} with sibling {', '.join(sorted(set(option) & set(rest)))}", path)
            merged = {**rest, **option} if isinstance(option, dict) else option
            options.append(self.value(merged, f"{path}/{keyword}/{i}"))
        return "(" + " | ".join(dict.fromkeys(options)) + ")"

    def literals(self, schema: dict[str, Any], path: str) -> str:
        values = [schema["const"]] if "const" in schema else list(schema["enum"])
        rest = {k: v for k, v in schema.items() if k not in ("const", "enum")}
        check = jsonschema.validators.validator_for(rest)(rest)
        fitting = [v for v in values if "$ref" in rest or check.is_valid(v)]
        if not fitting:
            raise SchemaGrammarError(f"no value of the enum/const at {path or '/'} fits the rest of its schema")
        texts = (json.dumps(v, ensure_ascii=False, separators=(SEPARATORS[0], SEPARATORS[1])) for v in fitting)
        return "(" + " | ".join(dict.fromkeys(json_literal(t) for t in texts)) + ")"

    def generic(self, depth: int) -> str:
        """Any JSON value, strings bounded, nested at most ``depth`` deep."""
        scalars = f'{self.rule(self._string({}, ""))} | {self.rule(self._number({}, ""))} | "true" | "false" | "null"'
        if depth == 0:
            return self.rule(scalars)
        inner = self.generic(depth - 1)
        key = self.rule(self._string({}, ""))
        members = self.repeat(f"{key} {self.colon} {inner}", 0, self.max_items)
        items = self.repeat(inner, 0, self.max_items)
        return self.rule(f'"{{" {members} "}}" | "[" {items} "]" | {scalars}')

    def repeat(self, item: str, low: int, high: int) -> str:
        """``item`` ``low`` to ``high`` times, comma-separated (the inside of ``[...]``)."""
        if high == 0:
            return '""'
        more = f"({self.comma} {item}){{{max(low - 1, 0)},{high - 1}}}"
        return f"{item} {more}" if low > 0 else f"({item} {more})?"

    def _object(self, schema: dict[str, Any], path: str) -> str:
        props = dict(schema.get("properties", {}))
        required = list(dict.fromkeys(schema.get("required", [])))
        for name in required:
            props.setdefault(name, {})
        if not props and schema.get("additionalProperties", True) is not False:
            return self._generic_object()
        member = {name: f"{json_literal(json.dumps(name, ensure_ascii=False))} {self.colon} "
                        f"{self.value(sub, f'{path}/properties/{name}')}" for name, sub in props.items()}
        optional = [member[n] for n in props if n not in required]
        if required:
            body = f" {self.comma} ".join(member[n] for n in required)
            body += "".join(f" ({self.comma} {m})?" for m in optional)
            return f'"{{" {body} "}}"'
        # nothing required: any ordered subset of the optional members, commas between
        tails = [""] * (len(optional) + 1)
        for i in range(len(optional) - 1, -1, -1):
            tails[i] = "".join(f" ({self.comma} {m})?" for m in optional[i + 1 :])
        choices = " | ".join(f"{m}{tails[i]}" for i, m in enumerate(optional))
        return f'"{{" ({choices})? "}}"' if optional else '"{" "}"'

    def _generic_object(self) -> str:
        key, inner = self.rule(self._string({}, "")), self.generic(GENERIC_DEPTH - 1)
        return f'"{{" {self.repeat(f"{key} {self.colon} {inner}", 0, self.max_items)} "}}"'

    def _array(self, schema: dict[str, Any], path: str) -> str:
        items = schema.get("items", {})
        if isinstance(items, list):  # draft 4 tuples
            self.lax("items as a list", path)
            items = {}
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(self.max_items, low)))
        if low > high:
            raise SchemaGrammarError(f"minItems > maxItems at {path or '/'}")
        item = self.value(items, f"{path}/items")
        return f'"[" {self.repeat(item, low, high)} "]"'

    def _string(self, schema: dict[str, Any], path: str) -> str:
        low = int(schema.get("minLength", 0))
        high = int(schema.get("maxLength", max(self.max_string, low)))
        if low > high:
            raise SchemaGrammarError(f"minLength > maxLength at {path or '/'}")
        if "pattern" in schema:
            try:
                piece = pattern_piece(schema["pattern"], self.char, self.max_string)
            except RegexUnsupported as exc:
                self.lax(f"pattern {schema['pattern']!r} ({exc})", path)
            else:
                if piece.low < low or piece.high > high:
                    self.lax("minLength/maxLength beside pattern", path)
                return f'"\\x22" {piece.expr} "\\x22"'
        return f'"\\x22" {self.char}{{{low},{high}}} "\\x22"'

    def _bounds(self, schema: dict[str, Any], path: str, whole: bool) -> tuple[int, int]:
        """Whole-number ``[lo, hi]`` from the bounds; ``whole``: exact for integers, else widened."""
        lo, hi = -INTEGER_LIMIT, INTEGER_LIMIT
        for keyword, exclusive, is_low in (("minimum", False, True), ("exclusiveMinimum", True, True),
                                           ("maximum", False, False), ("exclusiveMaximum", True, False)):
            bound = schema.get(keyword)
            if bound is None or isinstance(bound, bool):
                continue
            if is_low:
                edge = math.floor(bound) + 1 if exclusive and whole else math.ceil(bound) if whole else math.floor(bound)
                lo = max(lo, edge)
            else:
                edge = math.ceil(bound) - 1 if exclusive and whole else math.floor(bound) if whole else math.ceil(bound)
                hi = min(hi, edge)
            if not whole and (exclusive or bound != int(bound)):
                self.lax(f"{keyword} {bound} (numbers are bounded by whole numbers)", path)
        if lo > hi:
            raise SchemaGrammarError(f"no {'integer' if whole else 'number'} fits the bounds at {path or '/'}")
        return lo, hi

    def _integer(self, schema: dict[str, Any], path: str) -> str:
        return integer_range(*self._bounds(schema, path, whole=True))

    def _number(self, schema: dict[str, Any], path: str) -> str:
        lo, hi = self._bounds(schema, path, whole=False)
        fraction = f'("." [0-9]{{1,{FRACTION_DIGITS}}})?'
        zeros = f'("." "0"{{1,{FRACTION_DIGITS}}})?'

        def within(a: int, b: int) -> list[str]:  # the numbers in [a, b], 0 <= a <= b
            out = [f"{integer_range(a, b - 1)} {fraction}"] if a < b else []
            return out + [f'"{b}" {zeros}']

        options = [f'"-" {o}' for o in within(max(0, -hi), -lo)] if lo < 0 else []
        options += within(max(0, lo), hi) if hi >= 0 else []
        return " | ".join(options)

    def _boolean(self, schema: dict[str, Any], path: str) -> str:
        return '"true" | "false"'

    def _null(self, schema: dict[str, Any], path: str) -> str:
        return '"null"'


def _implied_type(schema: dict[str, Any]) -> str | None:
    """The type a schema without ``type`` constrains, judged by its keywords."""
    for kind, keys in (("object", ("properties", "required", "additionalProperties")),
                       ("array", ("items", "minItems", "maxItems")), ("string", ("pattern", "minLength", "maxLength")),
                       ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"))):
        if any(k in schema for k in keys):
            return kind
    return None
