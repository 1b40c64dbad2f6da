"""Environments: Gymnasium envs whose actions are tool calls (contract: :mod:`lma.envs.base`).

Every env id is registered here lazily (the module is imported only when the env is made), so
listing envs needs none of the optional worlds installed. Ids not registered here fall through to
Gymnasium's registry and are wrapped by :mod:`lma.envs.gym_wrapper`.
"""

from lma.envs.base import ActionTool, ToolCallSpace, ToolEnv
from lma.envs.driving import register_scenarios as register_driving
from lma.envs.game.babyai import register_levels
from lma.envs.gui import register_tasks as register_gui
from lma.envs.web import register_envs as register_web
from lma.registry import envs

register_levels(envs.register)
register_driving(envs.register)
envs.register("game/crafter-v0", "lma.envs.game.crafter:CrafterEnv",
              description="Crafter: local view + inventory in words, 17 named actions; achievements as metrics")
register_gui(envs.register)
register_web(envs.register)
envs.register("webqa/synthetic-v0", "lma.envs.webqa.env:WebQAEnv", dataset="synthetic",
              description="WebQA multimodal multi-hop QA, bundled synthetic set; expert: oracle")
envs.register("webqa/real-v0", "lma.envs.webqa.env:WebQAEnv", dataset="real",
              description="WebQA on the real data (data=PATH or $LMA_WEBQA_DATA); expert: oracle")

__all__ = ["ActionTool", "ToolCallSpace", "ToolEnv"]
