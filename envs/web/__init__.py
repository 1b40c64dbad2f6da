"""Web envs: MiniWoB++ tasks and lma's own loopback sites, played in real Chromium.

:func:`register_envs` registers them all lazily: nothing here imports Playwright or a site
until an env is made.
"""

from lma.envs.web.registration import register_envs

__all__ = ["register_envs"]
