"""Environments: Gymnasium envs whose actions are tool calls (contract: :mod:`lma.envs.base`).

Every env id is registered here lazily (the module is imported only when the env is made), so
listing envs needs none of the optional worlds installed. Ids not registered here fall through to
Gymnasium's registry and are wrapped by :mod:`lma.envs.gym_wrapper`.
"""

from typing import Any

import gymnasium as gym

from lma.envs.base import ActionTool, ToolCallSpace, ToolEnv
from lma.envs.driving import register_scenarios as register_driving
from lma.envs.game.babyai import register_levels
from lma.envs.game.balrog import register_tasks as register_balrog
from lma.envs.gui import register_tasks as register_gui
from lma.envs.memory_tasks import register_tasks as register_memory_tasks
from lma.envs.gymnasium_registry import register_envs as register_in_gymnasium
from lma.envs.web import register_envs as register_web
from lma.registry import envs

register_levels(envs.register)
register_balrog(envs.register)
register_driving(envs.register)
envs.register("game/crafter-v0", "lma.envs.game.crafter:CrafterEnv",
              description="Crafter: local view + inventory in words, 17 named actions; achievements as metrics")
register_gui(envs.register)
register_memory_tasks(envs.register)
register_web(envs.register)
envs.register("webqa/synthetic-v0", "lma.envs.webqa.env:WebQAEnv", dataset="synthetic",
              description="WebQA multimodal multi-hop QA, bundled synthetic set; expert: oracle")
envs.register("webqa/real-v0", "lma.envs.webqa.env:WebQAEnv", dataset="real",
              description="WebQA on the real data (data=PATH or $LMA_WEBQA_DATA); expert: oracle")
envs.on_names(register_in_gymnasium)  # every lma id, plugins' included, in Gymnasium's registry too


def make(id: str, **kwargs: Any) -> gym.Env:
    """Make an env by id: an lma env, or any Gymnasium env wrapped so its actions are tools."""
    if id in envs:
        return envs.make(id, **kwargs)
    from lma.envs.gym_wrapper import make_gymnasium

    return make_gymnasium(id, known=envs.names(), **kwargs)


__all__ = ["ActionTool", "ToolCallSpace", "ToolEnv", "make"]
