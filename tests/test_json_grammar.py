"""lma's JSON Schema -> GBNF converter against jsonschema, and the embedded model decoding under it.

Acceptance is checked with xgrammar's GBNF matcher (an engine independent of the converter) on
values drawn from random schemas of the supported subset: every value that validates is accepted
(within the default bounds) and every mutated value the grammar accepts validates. The embedded
SmolLM2 then samples under the same grammar through llama.cpp, the backend the planner uses.
"""

from __future__ import annotations

import json
import logging
import random
import string

import jsonschema
import pytest

from lma.agents.llm import LLMAgent
from lma.core import Task, to_jsonable
from lma.models.json_grammar import (
    DEFAULT_MAX_STRING,
    SchemaGrammarError,
    decoding_grammar,
    schema_grammar,
)
from lma.models.range_grammar import integer_range
from lma.models.scripted import ScriptedModel
from lma.report.html import episode_page
from lma.run.runner import run_episode

xgr = pytest.importorskip("xgrammar")
from xgrammar.testing import _is_grammar_accept_string as accepts


def matcher(schema):
    return xgr.Grammar.from_ebnf(schema_grammar(schema).gbnf)


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


# --- random schemas of the subset, values that fit them, and values that nearly do --------------

def random_schema(rng: random.Random, depth: int = 0) -> dict:
    kinds = ["integer", "string", "enum", "boolean", "number", "pattern"] + (["object", "array", "anyOf"] if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "integer":
        lo = rng.choice([-10**6, -130, -1, 0, 1, 7, 99])
        return {"type": "integer", "minimum": lo, "maximum": lo + rng.choice([0, 4, 9, 10, 95, 1000, 123456])}
    if kind == "number":
        lo = rng.choice([-5, 0, 2])
        return {"type": "number", "minimum": lo, "maximum": lo + rng.choice([1, 10])}
    if kind == "string":
        low = rng.choice([0, 1, 3])
        return {"type": "string", "minLength": low, "maxLength": low + rng.choice([0, 2, 8])}
    if kind == "pattern":
        return {"type": "string", "pattern": rng.choice(["^[a-c]{2,4}$", "^\\d{3}-[A-Z]$", "^(red|green)x?$"])}
    if kind == "enum":
        return {"enum": rng.sample(["left", "right", "up", 'say "hi"', "a\\b", 3, None], rng.randint(1, 4))}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "array":
        low = rng.randint(0, 2)
        return {"type": "array", "items": random_schema(rng, depth + 1), "minItems": low, "maxItems": low + rng.randint(0, 2)}
    if kind == "anyOf":
        return {"anyOf": [random_schema(rng, depth + 1), {"type": "null"}]}
    names = rng.sample(["x", "y", "colour", "n", "what"], rng.randint(1, 4))
    return {"type": "object", "properties": {n: random_schema(rng, depth + 1) for n in names},
            "required": [n for n in names if rng.random() < 0.6], "additionalProperties": False}


def random_value(schema: dict, rng: random.Random):
    """A value that validates, written the way the grammar writes it (required keys first)."""
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "anyOf" in schema:
        return random_value(rng.choice(schema["anyOf"]), rng)
    kind = schema["type"]
    if kind == "integer":
        return rng.choice([schema["minimum"], schema["maximum"], rng.randint(schema["minimum"], schema["maximum"])])
    if kind == "number":
        return rng.choice([schema["minimum"], schema["maximum"], round(rng.uniform(schema["minimum"], schema["maximum"]), 3)])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "string" and "pattern" in schema:
        return {"^[a-c]{2,4}$": "".join(rng.choices("abc", k=rng.randint(2, 4))), "^\\d{3}-[A-Z]$": "042-Q",
                "^(red|green)x?$": rng.choice(["red", "greenx"])}[schema["pattern"]]
    if kind == "string":
        return "".join(rng.choices(string.ascii_letters + ' "\\é\n', k=rng.randint(schema["minLength"], schema["maxLength"])))
    if kind == "array":
        return [random_value(schema["items"], rng) for _ in range(rng.randint(schema["minItems"], schema["maxItems"]))]
    props, required = schema["properties"], schema["required"]
    keys = required + [k for k in props if k not in required and rng.random() < 0.5]
    return {k: random_value(props[k], rng) for k in keys}


def mutate(value, rng: random.Random):
    """A value near ``value``: a number pushed out, a string grown, a key dropped or added."""
    if isinstance(value, bool) or value is None:
        return rng.choice([0, "true", [value]])
    if isinstance(value, (int, float)):
        return value + rng.choice([-1, 1, -10**6, 10**6, 0.5])
    if isinstance(value, str):
        return rng.choice([value + "zz" * 6, value[:-1], "nope", 5])
    if isinstance(value, list):
        return rng.choice([value + value + [None], value[1:], [mutate(v, rng) for v in value]])
    if not value or rng.random() < 0.3:
        return {**value, "extra": 1}
    key = rng.choice(list(value))
    return rng.choice([{k: v for k, v in value.items() if k != key}, {**value, key: mutate(value[key], rng)}])


def test_random_schemas_accept_exactly_what_validates():
    rng = random.Random(17)
    checked = rejected = 0
    for _ in range(120):
        schema = random_schema(rng)
        grammar, validator = matcher(schema), jsonschema.Draft202012Validator(schema)
        assert schema_grammar(schema).loose == ()
        for _ in range(6):
            value = random_value(schema, rng)
            assert validator.is_valid(value), (schema, value)
            assert accepts(grammar, dumps(value)), (schema, dumps(value))
            near = mutate(value, rng)
            if accepts(grammar, dumps(near)):
                assert validator.is_valid(near), (schema, dumps(near))
            else:
                rejected += 1
            checked += 1
    assert checked == 720 and rejected > 300  # the mutations do reach outside the schemas


def test_integer_ranges_are_exact():
    rng = random.Random(3)
    for lo, hi in [(1, 5), (-120, 1234), (0, 0), (-9, -3), (7, 7), (95, 1005), (-1, 10**6)]:
        grammar = xgr.Grammar.from_ebnf(f"root ::= {integer_range(lo, hi)}")
        near = {lo - 1, lo, hi, hi + 1, 0, -1, 10 * hi + 1} | {rng.randint(lo - 50, hi + 50) for _ in range(40)}
        for n in near:
            assert accepts(grammar, str(n)) == (lo <= n <= hi), (lo, hi, n)
        assert not accepts(grammar, "-0") and not accepts(grammar, "01")
    assert integer_range(1, 10**9 - 1).count("|") < 20  # a digit grammar, not a list of values


def test_strings_are_bounded_by_default_and_whitespace_is_fixed():
    grammar = matcher({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
    assert accepts(grammar, dumps({"q": "a" * DEFAULT_MAX_STRING}))
    assert not accepts(grammar, dumps({"q": "a" * (DEFAULT_MAX_STRING + 1)}))
    assert not accepts(grammar, '{"q":"a"}') and not accepts(grammar, '{"q":  "a"}')


def test_unsupported_keywords_are_named_in_one_line(caplog):
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9, "multipleOf": 2},
                                               "s": {"type": "string", "pattern": "^a(?=b)"}}, "required": ["n"]}
    grammar = schema_grammar(schema)
    assert grammar.loose == ("multipleOf (at /properties/n)",
                             "pattern '^a(?=b)' (the group '(?=' (look-arounds, named or flagged groups)) (at /properties/s)")
    assert accepts(xgr.Grammar.from_ebnf(grammar.gbnf), '{"n": 3}')  # left to validation, and said so
    with pytest.raises(SchemaGrammarError) as refused:
        schema_grammar(schema, strict=True)
    assert "\n" not in str(refused.value) and "multipleOf" in str(refused.value)
    with caplog.at_level(logging.WARNING, logger="lma.models.json_grammar"):
        decoding_grammar(schema)
        decoding_grammar(schema)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) <= 1 and all("\n" not in m and "multipleOf" in m for m in said)
    for bad, why in [({"type": "integer", "minimum": 5, "maximum": 1}, "no integer fits"),
                     ({"type": "frog"}, "not a valid JSON schema"), ({"enum": [1], "type": "string"}, "no value")]:
        with pytest.raises(SchemaGrammarError, match=why):
            schema_grammar(bad)


# --- the embedded model under the grammar -----------------------------------------------------

RATE = {"type": "object", "properties": {"name": {"const": "rate"}, "args": {
    "type": "object", "properties": {"stars": {"type": "integer", "minimum": 1, "maximum": 5},
                                     "colour": {"enum": ["red", "blue"]}, "note": {"type": "string", "maxLength": 12}},
    "required": ["stars", "colour"], "additionalProperties": False}}, "required": ["name", "args"], "additionalProperties": False}


@pytest.fixture(scope="module")
def embedded():
    from lma.models.base import load_model

    return load_model("llamacpp:smollm2-135m")


def test_embedded_model_keeps_bounds_under_the_grammar(embedded):
    prompt = [{"role": "user", "content": 'Rate it 15 stars out of 5 and pick a colour. Answer as JSON '
                                          '{"name": "rate", "args": {"stars": 15, "colour": "...", "note": "..."}}'}]
    for i in range(10):
        out = embedded.complete(prompt, schema=RATE, max_tokens=60, temperature=1.0 if i else 0.0)
        assert jsonschema.Draft202012Validator(RATE).is_valid(out.parsed), out.text
        assert 1 <= out.parsed["args"]["stars"] <= 5


def test_embedded_model_samples_validate_on_random_schemas(embedded):
    rng = random.Random(5)
    for _ in range(6):
        schema = {"type": "object", "properties": {"name": {"const": "act"}, "args": random_schema(rng)},
                  "required": ["name", "args"], "additionalProperties": False}
        out = embedded.complete([{"role": "user", "content": f"Answer with JSON for this schema: {json.dumps(schema)}"}],
                                schema=schema, max_tokens=200, temperature=1.0)
        assert jsonschema.Draft202012Validator(schema).is_valid(json.loads(out.text)), (schema, out.text)


# --- a backend without grammar: the planner retries, and the episode page shows each rejection ---

def test_rejected_tries_are_recorded_and_shown(tmp_path):
    bad = '{"name": "turn_left", "args": {"steps": 3}}'
    model = ScriptedModel(["not json at all", bad, '{"name": "turn_left", "args": {}}'])
    agent = LLMAgent(model, name="scripted")
    result = run_episode(agent, Task("babyai/GoToObj-v0", seed=0, max_steps=1))
    (step,) = [to_jsonable(s) for s in agent.steps]
    reasons = [r["reason"] for r in step["trace"]["rejected"]]
    assert result.retries == 2 and step["call"]["name"] == "turn_left", result
    assert reasons[0].startswith("not a tool call") and "steps" in reasons[1]
    html = episode_page(result, [step], None, None)
    assert "model output (try 3 of 3)" in html and "2 planner retries" in html
    assert html.count("rejected: ") == 2 and "Additional properties are not allowed" in html
