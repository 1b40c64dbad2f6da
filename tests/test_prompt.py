"""The planner's prompt layout: a stable prefix that grows by appending, and a llama.cpp cache that reuses it."""

from __future__ import annotations

import pytest

import lma
from lma.agents import make_agent
from lma.core import Task
from lma.planning.prompt import HISTORY_CHARS, Turn, call_text, plan_input, render, window_start
from lma.run.runner import run_episode


def expert_turns(env_id: str, seed: int, steps: int):
    env = lma.make(env_id)
    obs, _ = env.reset(seed=seed)
    observations, turns = [obs["text"]], []
    for _ in range(steps):
        call = env.unwrapped.expert_action()
        turns.append(Turn(obs["text"], call, "ok"))
        obs, _, terminated, truncated, _ = env.step(call)
        observations.append(obs["text"])
        if terminated or truncated:
            break
    return env, observations, turns


def test_the_prompt_only_grows_between_window_trims():
    env, observations, turns = expert_turns("babyai/balrog-putnext-v0", 3, 40)
    tools = env.unwrapped.tools
    history = 4
    prompts = [render(plan_input(observations[t], tools, turns[:t], goal="g", history=history))
               for t in range(len(turns) + 1)]
    starts = [window_start(turns[:t], history) for t in range(len(turns) + 1)]
    assert len(set(starts)) > 2  # the episode is long enough to trim twice
    for t in range(1, len(prompts)):
        grown = prompts[t - 1] + [{"role": "assistant", "content": call_text(turns[t - 1].call)}]
        if starts[t] == starts[t - 1]:
            assert prompts[t][: len(grown)] == grown  # appended: every earlier token is reused
        else:
            assert starts[t] - starts[t - 1] == history // 2 and f"({starts[t]} earlier steps not shown)" in \
                prompts[t][1]["content"]
        assert sum(m["role"] == "assistant" for m in prompts[t]) == t - starts[t] <= history


def test_long_observations_are_trimmed_by_characters_too():
    page = "x" * (HISTORY_CHARS // 3)
    call = lma.ToolCall("noop")
    turns = [Turn(page, call, "ok") for _ in range(5)]
    start = window_start(turns, history=16)
    assert 0 < start < len(turns) and sum(len(t.observation) for t in turns[start:]) <= HISTORY_CHARS


@pytest.mark.slow
def test_llamacpp_reuses_the_prefix_and_decides_the_same_as_without_cache():
    """The embedded model, the same seed twice: once reusing its KV cache, once with the cache
    emptied before every step. Same calls; the cached run evaluates far fewer prompt tokens."""
    pytest.importorskip("llama_cpp")
    from lma.models import load_model
    from lma.models.base import ChatModel

    model = load_model("llamacpp:smollm2-135m?n_threads=1")

    class Uncached(ChatModel):
        name = "uncached"

        def complete(self, messages, **kwargs):
            model.llm.reset()
            return model.complete(messages, **kwargs)

    task = Task("babyai/GoToObj-v0", 5, max_steps=8)
    runs = {}
    for label, planner in (("cached", model), ("uncached", Uncached())):
        model.llm.reset()
        agent = make_agent("type1", model=planner)
        recorder_steps = []
        agent.observe = (lambda original: lambda record: (recorder_steps.append(record), original(record)))(agent.observe)
        result = run_episode(agent, task)
        runs[label] = (result, recorder_steps)
    (cached, cached_steps), (uncached, uncached_steps) = runs["cached"], runs["uncached"]
    assert [str(s.call) for s in cached_steps] == [str(s.call) for s in uncached_steps]
    assert uncached.tokens_cached == 0 and cached.tokens_in == uncached.tokens_in
    later = cached_steps[1:]
    reused = sum(s.usage.tokens_cached for s in later) / sum(s.usage.tokens_in for s in later)
    assert reused > 0.6, reused  # most of each later prompt comes from the cache


def test_a_lora_adapter_is_checked_against_its_manifest(tmp_path):
    from lma.models.adapters import verified_adapter, write_manifest
    from lma.models.base import ModelError

    base, adapter = tmp_path / "base.gguf", tmp_path / "planner.gguf"
    base.write_bytes(b"base weights")
    adapter.write_bytes(b"adapter weights")
    write_manifest(adapter, base, {"training": {"prompt_layout": 2}})
    assert verified_adapter(adapter, base) == adapter
    other = tmp_path / "other.gguf"
    other.write_bytes(b"another base")
    with pytest.raises(ModelError, match="trained on another base model"):
        verified_adapter(adapter, other)
    adapter.write_bytes(b"adapter weightz")
    with pytest.raises(ModelError, match="does not match its recorded checksum"):
        verified_adapter(adapter, base)
    with pytest.raises(ModelError, match="no LoRA adapter file"):
        verified_adapter(tmp_path / "missing.gguf", base)
    proc = __import__("subprocess").run(
        [__import__("sys").executable, "-m", "lma.cli", "run", "--agent", "type1", "--env", "babyai/GoToObj-v0",
         "--model", f"llamacpp:smollm2-135m?lora={adapter}", "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "planner.gguf does not match its recorded checksum" in proc.stderr
