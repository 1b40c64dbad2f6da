"""Agents: the four LMA types of the survey as presets over one loop, and the baselines.

=========  ===================================  ==========================================
name       survey type                          wiring
=========  ===================================  ==========================================
type1      I: closed-source/prompted planner    any model, prompted; short-term window only
type2      II: fine-tuned local planner         a model from ``lma finetune``; window only
type3      III: indirect long-term memory       ``recall``/``remember`` as planner tools
type4      IV: native long-term memory          loop recalls every step, writes each episode
random     baseline                             uniform over valid tools
expert     oracle                               the env's scripted expert policy
=========  ===================================  ==========================================
"""

from __future__ import annotations

import os
from typing import Any

from lma.agents.base import Agent
from lma.agents.baselines import ExpertAgent, RandomAgent
from lma.agents.llm import LLMAgent
from lma.registry import LmaError, agents


def _preset(name: str, survey_type: str, wiring: str, memory_mode: str, default_memory: str) -> Any:
    def make(model: str | None = None, memory: str | None = None, **kwargs: Any) -> LLMAgent:
        if name == "type2" and not (model or os.environ.get("LMA_TYPE2_MODEL")):
            raise LmaError("type2 needs a fine-tuned model: --model transformers:DIR (made by `lma finetune`)")
        if name == "type2":
            model = model or os.environ["LMA_TYPE2_MODEL"]
        return LLMAgent(
            model or os.environ.get("LMA_MODEL"),
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
    "type1": ("Type I", "prompted planner (API or local model), short-term window, no long-term memory", "none", "none"),
    "type2": ("Type II", "fine-tuned local planner (lma finetune), short-term window, no long-term memory", "none", "none"),
    "type3": ("Type III", "long-term memory as recall/remember tools the planner may call", "tool", "chroma"),
    "type4": ("Type IV", "native long-term memory: recalled every step, episode + reflection written at the end", "native", "chroma"),
}
for _name, (_type, _wiring, _mode, _memory) in PRESETS.items():
    agents.register(_name, _preset(_name, _type, _wiring, _mode, _memory), description=f"{_type}: {_wiring}")
agents.register("random", RandomAgent, description="baseline: uniform over the valid tools")
agents.register("expert", ExpertAgent, description="oracle: the env's scripted expert policy")



def make_agent(name: str, **options: Any) -> Agent:
    """Build a registered agent; options left as None are not passed on."""
    given = {k: v for k, v in options.items() if v is not None}
    try:
        return agents.make(name, **given)
    except TypeError as exc:
        if given and "unexpected keyword argument" in str(exc):
            raise LmaError(f"agent {name!r} does not take {', '.join(sorted(given))}: {exc}") from None
        raise


__all__ = ["Agent", "ExpertAgent", "LLMAgent", "RandomAgent", "make_agent"]
