"""Desktop GUI tasks on a private virtual display (env: :mod:`lma.envs.gui.env`).

Registering imports only the task definitions: no Tk, no pyautogui, no X connection.
"""

from __future__ import annotations

from typing import Any


def register_tasks(register: Any) -> None:
    """Register ``gui/<task>-v0`` for every task in :data:`lma.envs.gui.tasks.TASKS`."""
    from lma.envs.gui.tasks import TASKS

    for name, task in TASKS.items():
        register(f"gui/{name}-v0", "lma.envs.gui.env:DesktopEnv", task=name,
                 description=f"desktop: {task.description}; expert: scripted oracle")
