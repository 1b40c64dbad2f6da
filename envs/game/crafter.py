"""Crafter as an lma env, described in words as BALROG's Crafter wrapper does.

Each observation says what is in the agent's local view (the 9 x 7 cells the frame shows): for each
kind of material or creature, where the nearest one is ("2 steps north and 1 step east") and how many
are in view; what the agent faces; its vitals (health, food, drink, energy, out of 9); its
inventory; the achievements unlocked so far; and whether it is night or the agent sleeps. North
is up in the frame. The 17 Crafter actions are tools with their names (``noop``, ``move_left``, ...,
``make_iron_sword``); ``image`` is the rendered frame (local view + inventory bar).

``episode_metrics()``: ``achievements`` (the names unlocked), ``achievements_count``, and
``progression`` (count / 22, BALROG's score). Success: the agent is alive when the episode ends (at
``length`` steps; Crafter's own episodes last 10,000). ``expert_action()`` is a scripted heuristic
(:mod:`lma.envs.game.crafter_policy`), not an oracle: Crafter has none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lma.core import Observation, ToolCall
from lma.envs.base import ActionTool, ToolEnv
from lma.envs.spaces import Frame, observation_space

ACTIONS = {
    "noop": "do nothing",
    "move_left": "move one cell west (or turn to face west if the cell is blocked)",
    "move_right": "move one cell east (or turn to face east if the cell is blocked)",
    "move_up": "move one cell north (or turn to face north if the cell is blocked)",
    "move_down": "move one cell south (or turn to face south if the cell is blocked)",
    "do": "interact with what you face: collect material, drink water, attack or eat a creature",
    "sleep": "sleep to restore energy (you wake up when energy is full or when hurt)",
    "place_stone": "place a stone in front of you (needs 1 stone)",
    "place_table": "place a crafting table in front of you (needs 2 wood)",
    "place_furnace": "place a furnace in front of you (needs 4 stone, a table nearby)",
    "place_plant": "plant a sapling on the grass in front of you (needs 1 sapling)",
    "make_wood_pickaxe": "craft a wood pickaxe (needs 1 wood, a table nearby)",
    "make_stone_pickaxe": "craft a stone pickaxe (needs 1 wood and 1 stone, a table nearby)",
    "make_iron_pickaxe": "craft an iron pickaxe (needs 1 wood, 1 coal, 1 iron, a table and a furnace nearby)",
    "make_wood_sword": "craft a wood sword (needs 1 wood, a table nearby)",
    "make_stone_sword": "craft a stone sword (needs 1 wood and 1 stone, a table nearby)",
    "make_iron_sword": "craft an iron sword (needs 1 wood, 1 coal, 1 iron, a table and a furnace nearby)",
}
GOAL = ("Survive and unlock as many achievements as you can: collect materials, craft tools, "
        "place objects, eat, drink, sleep and defeat monsters.")
VITALS = ("health", "food", "drink", "energy")
VIEW = (9, 7)  # cells of the local view, x by y, centred on the agent


def _steps(n: int, word: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {word}"


def direction(dx: int, dy: int) -> str:
    """``dx`` cells east and ``dy`` cells south, in words."""
    parts = []
    if dy:
        parts.append(_steps(abs(dy), "north" if dy < 0 else "south"))
    if dx:
        parts.append(_steps(abs(dx), "east" if dx > 0 else "west"))
    return " and ".join(parts) or "here"


def local_view(env: Any) -> list[dict[str, Any]]:
    """Every material cell and creature in the local view: ``{"name", "dx", "dy"}`` (east, south)."""
    world, player = env._world, env._player
    px, py = (int(v) for v in player.pos)
    half_x, half_y = VIEW[0] // 2, VIEW[1] // 2
    cells = []
    for dx in range(-half_x, half_x + 1):
        for dy in range(-half_y, half_y + 1):
            material, obj = world[(px + dx, py + dy)]
            if material is not None and (dx, dy) != (0, 0):
                cells.append({"name": material, "dx": dx, "dy": dy})
            if obj is not None and obj is not player:
                cells.append({"name": type(obj).__name__.lower(), "dx": dx, "dy": dy})
    return cells


def describe_view(cells: list[dict[str, Any]]) -> list[str]:
    """One line per kind: where the nearest is and how many are in view, nearest kinds first."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for cell in cells:
        kinds.setdefault(cell["name"], []).append(cell)
    lines = []
    for name, found in kinds.items():
        near = min(found, key=lambda c: (abs(c["dx"]) + abs(c["dy"]), c["dy"], c["dx"]))
        count = f" ({len(found)} in view)" if len(found) > 1 else ""
        lines.append((abs(near["dx"]) + abs(near["dy"]), f"{name} {direction(near['dx'], near['dy'])}{count}"))
    return [text for _, text in sorted(lines)]


class CrafterEnv(ToolEnv):
    """``game/crafter-v0``: ``length`` is the episode's step limit, ``size`` the frame's side in pixels."""

    def __init__(self, *, length: int = 10000, size: int = 256):
        super().__init__()
        import crafter  # noqa: F401  (fails early with a clear ImportError if the extra is missing)

        self.length, self.size = length, size
        self.tools = [ActionTool(name, description) for name, description in ACTIONS.items()]
        self._names = list(ACTIONS)
        self.game: Any = None
        self._policy: Any = None
        self._dead = False
        self.observation_space = observation_space(Frame((size, size), optional=False))

    def _reset(self, seed: int | None):
        import crafter

        if seed is None:
            seed = int(self.np_random.integers(2**31 - 1))
        self.game = crafter.Env(seed=seed, length=self.length, size=(self.size, self.size))
        frame = self.game.reset()
        self._dead, self._policy = False, None
        return self._observe(frame), {}

    def _observe(self, frame: np.ndarray) -> Observation:
        player = self.game._player
        cells = local_view(self.game)
        fx, fy = (int(v) for v in player.facing)
        material, obj = self.game._world[(int(player.pos[0]) + fx, int(player.pos[1]) + fy)]
        facing = type(obj).__name__.lower() if obj is not None else (material or "the edge of the world")
        inventory = {k: int(v) for k, v in player.inventory.items() if k not in VITALS and v > 0}
        unlocked = self.unlocked()
        lines = [
            f"Goal: {GOAL}",
            "You see: " + ("; ".join(describe_view(cells)) or "nothing"),
            f"You face: {facing} ({direction(fx, fy)}).",
            "Status: " + ", ".join(f"{k} {int(player.inventory[k])}/9" for k in VITALS) + ".",
            "Inventory: " + (", ".join(f"{k} {v}" for k, v in inventory.items()) or "empty") + ".",
            "Achievements so far: " + (", ".join(unlocked) or "none") + ".",
        ]
        if player.sleeping:
            lines.append("You are asleep.")
        elif self.game._world.daylight < 0.3:
            lines.append("It is night: the view is dark and zombies are about.")
        data = {"goal": GOAL, "view": cells, "facing": facing, "facing_dir": [fx, fy],
                "inventory": {k: int(v) for k, v in player.inventory.items()},
                "position": [int(v) for v in player.pos], "achievements": unlocked}
        return {"text": "\n".join(lines), "image": frame, "data": data}

    def _act(self, call: ToolCall):
        frame, reward, done, info = self.game.step(self._names.index(call.name))
        self._dead = self.game._player.health <= 0
        terminated, truncated = self._dead, bool(done and not self._dead)
        out = {"achievements": {k: int(v) for k, v in info["achievements"].items()}}
        if done:
            out["success"] = not self._dead
        return self._observe(frame), reward, terminated, truncated, out

    def unlocked(self) -> list[str]:
        """The achievements unlocked so far, in Crafter's order."""
        if self.game is None or self.game._player is None:
            return []
        return [name for name, count in self.game._player.achievements.items() if count > 0]

    def episode_metrics(self) -> dict[str, Any]:
        """achievements (names), achievements_count, progression (count / 22), died."""
        unlocked = self.unlocked()
        total = len(self.game._player.achievements) if self.game is not None else 22
        return {"achievements": unlocked, "achievements_count": len(unlocked),
                "progression": round(len(unlocked) / total, 4), "died": self._dead}

    def expert_action(self) -> ToolCall:
        """The scripted heuristic of :mod:`lma.envs.game.crafter_policy` (not an oracle)."""
        from lma.envs.game.crafter_policy import ScriptedCrafter

        if self._policy is None:
            self._policy = ScriptedCrafter(self.np_random)
        return ToolCall(self._policy.act(self._last_obs["data"]))
