"""Batched llama.cpp decoding with the real embedded model (SmolLM2-135M): same text as one at a
time, prefix reuse per sequence, a grammar per row, errors that stay with their row."""

from __future__ import annotations

import numpy as np
import pytest

from lma.models import load_model
from lma.models.base import ModelError, Request

pytest.importorskip("llama_cpp")
SPEC = "llamacpp:smollm2-135m"


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def call_schema(*names: str) -> dict:
    no_args = {"type": "object", "properties": {}, "additionalProperties": False}
    return {"type": "object", "properties": {"name": {"enum": list(names)}, "args": no_args},
            "required": ["name", "args"], "additionalProperties": False}


def single(model, request: Request):
    return model.complete(request.messages, schema=request.schema, max_tokens=request.max_tokens,
                          temperature=request.temperature)


def test_batched_greedy_text_is_the_single_sequence_text():
    model = load_model(SPEC)
    requests = [Request(ask("What is 1+1? Explain."), max_tokens=24),
                Request(ask("Name three colours."), max_tokens=16),
                Request(ask("Go forward. Answer with a tool call."), schema=call_schema("forward", "turn_left"),
                        max_tokens=48)]
    batched = model.complete_batch(requests)
    for request, got in zip(requests, batched):
        want = single(model, request)
        assert got.text == want.text and got.usage.tokens_out == want.usage.tokens_out
        assert got.usage.tokens_in == want.usage.tokens_in
    assert batched[2].parsed["name"] in ("forward", "turn_left") and batched[0].parsed is None


def test_each_row_finds_its_own_prefix_again():
    model = load_model(SPEC)
    first = [ask(f"Mission: go to the {c} ball. You see a wall. What next?") for c in ("red", "blue", "green")]
    answers = model.complete_batch([Request(m, max_tokens=8) for m in first])
    # the next step of each episode: its prompt extends its last one (prompt layout 2), sent in another order
    later = [m + [{"role": "assistant", "content": a.text}, {"role": "user", "content": "You see a door."}]
             for m, a in zip(first, answers)]
    again = model.complete_batch([Request(m, max_tokens=8) for m in later[::-1]])[::-1]
    for now, before in zip(again, answers):
        # all of the last prompt and most of its answer came from the row's own sequence
        assert before.usage.tokens_in < now.usage.tokens_cached < now.usage.tokens_in
    for m, a, b, now in zip(first, later, answers, again):
        model.llm.reset()  # the single path with the same history: the episode's steps one after the other
        assert single(model, Request(m, max_tokens=8)).text == b.text
        assert single(model, Request(a, max_tokens=8)).text == now.text


def test_a_grammar_per_row_and_rows_without_one():
    model = load_model(SPEC)
    names = ["turn_left", "pickup", "toggle"]
    requests = [Request(ask("Pick the action. Answer with a tool call."), schema=call_schema(n), max_tokens=48)
                for n in names] + [Request(ask("Pick the action."), max_tokens=8)]
    out = model.complete_batch(requests)
    assert [c.parsed["name"] for c in out[:3]] == names
    assert all(c.parsed["args"] == {} for c in out[:3])
    assert out[3].parsed is None and out[3].text and not out[3].text.startswith("{")


def test_a_request_longer_than_the_context_fails_alone():
    model = load_model(f"{SPEC}?n_ctx=256&n_parallel=2")
    long = Request(ask(" ".join(["word"] * 400)), max_tokens=8)
    short = Request(ask("Say hi."), max_tokens=8)
    picture = Request(ask("Describe it."), images=(np.zeros((4, 4, 3), np.uint8),), max_tokens=8)
    futures = [model.batcher.submit(r) for r in (long, short, picture)]
    with pytest.raises(ModelError, match=r"the prompt is \d+ tokens; the model's context holds 256"):
        futures[0].result()
    assert futures[1].result().text == single(model, short).text
    with pytest.raises(ModelError, match="text-only"):
        futures[2].result()
    with pytest.raises(ModelError, match="context holds"):
        model.complete_batch([short, long])


def test_a_request_joins_the_rows_already_decoding():
    """Continuous batching: a short request sent after a long one started ends first."""
    model = load_model(SPEC)
    long = model.batcher.submit(Request(ask("Tell a long story about a robot."), max_tokens=48))
    pieces: list[str] = []
    short = model.batcher.submit(Request(ask("Say yes."), max_tokens=3), on_text=pieces.append)
    answer = short.result()
    assert not long.done()
    assert "".join(pieces) == answer.text and answer.usage.tokens_out <= 3
    assert long.result().usage.tokens_out > answer.usage.tokens_out


def test_a_lora_adapter_applies_to_batched_rows_too(tmp_path):
    """``lma eval`` decodes through the batch context: an adapter set only on the single path's
    context would be silently ignored there (a fine-tuned planner evaluated as the untuned one)."""
    import json

    import torch
    from safetensors.torch import save_file

    from lma.train.gguf_export import export_lora_gguf

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 16}))
    gen = torch.Generator().manual_seed(0)
    weights = {}
    for layer in range(30):  # SmolLM2-135M: 30 layers, hidden 576, MLP 1536
        name = f"base_model.model.model.layers.{layer}.mlp.down_proj"
        weights[f"{name}.lora_A.weight"] = torch.randn(4, 1536, generator=gen) * 0.5
        weights[f"{name}.lora_B.weight"] = torch.randn(576, 4, generator=gen) * 0.5
    save_file(weights, str(adapter / "adapter_model.safetensors"))
    lora = tmp_path / "random.gguf"
    export_lora_gguf(adapter, SPEC, lora)
    tuned, base = load_model(f"{SPEC}?lora={lora}&n_threads=1"), load_model(f"{SPEC}?n_threads=1")
    request = Request(ask("Name three colours."), max_tokens=8)
    batched = tuned.complete_batch([request, request])
    assert [b.text for b in batched] == [single(tuned, request).text] * 2
    assert batched[0].text != single(base, request).text  # the adapter changed what the model says
