"""Agents: the four LMA types of the survey as presets over one loop, and the baselines.

=========  ===================================  ==========================================
name       survey type                          wiring
=========  ===================================  ==========================================
type1      I: closed-source/prompted planner    any model, prompted; short-term window only
type2      II: fine-tuned local planner         a model from ``lma finetune``; window only
type3      III: indirect long-term memory       ``recall``/``remember`` as planner tools
type4      IV: native long-term memory          recalls every step, replays skills, writes
                                                each episode with a reflection
random     baseline                             uniform over valid tools
expert     oracle                               the env's scripted expert policy
dagger     training                             a learner acting, the expert labelling
=========  ===================================  ==========================================

See docs/memory.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from lma.agents.base import Agent
from lma.agents.baselines import ExpertAgent, RandomAgent
from lma.agents.llm import LLMAgent
from lma.errors import LmaError
from lma.models.shipped import PLANNERS, planner_for
from lma.registry import agents


def default_model() -> str | None:
    """Type I's planner when none is given: ``$LMA_MODEL``; else an OpenAI-compatible endpoint
    when ``OPENAI_BASE_URL`` and ``OPENAI_MODEL`` are set; else None (the embedded model)."""
    if os.environ.get("LMA_MODEL"):
        return os.environ["LMA_MODEL"]
    base, name = os.environ.get("OPENAI_BASE_URL"), os.environ.get("OPENAI_MODEL")
    return f"openai:{base}#{name}" if base and name else None


def finetuned_model(model: str | None, envs: Sequence[str] = ()) -> str:
    """Type II's planner: ``--model``, else ``$LMA_TYPE2_MODEL``, else the planner lma ships for the
    run's envs (``llamacpp:smollm2-135m-babyai`` on ``babyai/balrog-*``: :mod:`lma.models.shipped`);
    a bare folder means ``transformers:DIR``."""
    model = model or os.environ.get("LMA_TYPE2_MODEL") or planner_for(envs)
    if not model:
        shipped = ", ".join(f"llamacpp:{p.name} ({', '.join(e + '*' for e in p.envs)})" for p in PLANNERS.values())
        raise LmaError("type2 needs a fine-tuned model: --model transformers:DIR or llamacpp:FILE.gguf "
                       f"(made by `lma finetune`); lma ships {shipped}")
    return f"transformers:{model}" if os.path.isdir(model) else model


def _preset(name: str, survey_type: str, wiring: str, memory_mode: str, default_memory: str) -> Any:
    def make(model: str | None = None, memory: str | None = None, **kwargs: Any) -> LLMAgent:
        model = finetuned_model(model) if name == "type2" else model or default_model()
        return LLMAgent(
            model,
            name=name,
            memory=memory or default_memory,
            memory_mode=memory_mode,
            survey_type=survey_type,
            wiring=wiring,
            **kwargs,
        )

    make.__doc__ = f"{survey_type}: {wiring}"
    return make


PRESETS = {
    "type1": ("Type I", "prompted planner (OpenAI-compatible endpoint if configured, else the embedded model); "
              "short-term window; no long-term memory", "none", "none"),
    "type2": ("Type II", "fine-tuned local planner (lma finetune; shipped for babyai/balrog-*); short-term window; "
              "no long-term memory", "none", "none"),
    "type3": ("Type III", "indirect long-term memory: recall/remember tools the planner may call (chroma); "
              "episodes written at the end", "tool", "chroma"),
    "type4": ("Type IV", "native long-term memory (chroma): recalled every step, skills replayed while "
              "observations match, episode + reflection written at the end", "native", "chroma"),
}
for _name, (_type, _wiring, _mode, _memory) in PRESETS.items():
    agents.register(_name, _preset(_name, _type, _wiring, _mode, _memory), description=f"{_type}: {_wiring}")
agents.register("random", RandomAgent, description="baseline: uniform over the valid tools")
agents.register("expert", ExpertAgent, description="oracle: the env's scripted expert policy")
agents.register("expert-driver", "lma.agents.baselines:ExpertDriver",
                description="oracle: rule-based IDM/MOBIL-style driver for the driving/* meta-action scenarios")
agents.register("dagger", "lma.agents.dagger:DaggerAgent",
                description="training: a learner (type2 by default) acting, the env's expert labelling each step")
agents.register("oracle-memory", "lma.agents.memory_oracles:MemoryOracle",
                description="oracle: the memory/* env's expert with perfect memory of earlier episodes of the series")
agents.register("oracle-no-memory", "lma.agents.memory_oracles:no_memory_oracle",
                description="oracle: the memory/* env's expert, every episode from nothing")



def make_agent(name: str, **options: Any) -> Agent:
    """Build a registered agent; options left as None are not passed on."""
    return agents.make(name, **{k: v for k, v in options.items() if v is not None})


__all__ = ["Agent", "ExpertAgent", "LLMAgent", "RandomAgent", "default_model", "make_agent"]
