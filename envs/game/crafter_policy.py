"""A scripted Crafter policy: a hand-written heuristic, named as such (not learned, not an oracle).

It reads only the observation's ``data`` (the local view, what the agent faces, the inventory) and
follows a fixed priority list: fight an adjacent zombie; drink when thirsty and eat a cow when
hungry if one is in view; sleep when tired; gather wood, place a table, craft the wood pickaxe and
sword; mine stone and craft the stone pickaxe and sword; otherwise place stone, gather saplings and
plant them. To reach a target it steps along the longer axis of the offset over walkable cells
(grass, sand, path; never lava); with no target in view it explores in a direction it keeps for a
while. It exists to exercise the env and to fill the throughput benchmark with sensible play.
"""

from __future__ import annotations

from typing import Any

import numpy as np

WALKABLE = {"grass", "sand", "path"}
MOVES = {(-1, 0): "move_left", (1, 0): "move_right", (0, -1): "move_up", (0, 1): "move_down"}


class ScriptedCrafter:
    """Call :meth:`act` with each observation's ``data``; ``rng`` drives exploration."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.heading = (1, 0)
        self.heading_left = 0

    def act(self, data: dict[str, Any]) -> str:
        inv, view = data["inventory"], data["view"]
        self.cells: dict[tuple[int, int], set[str]] = {}
        for cell in view:
            self.cells.setdefault((cell["dx"], cell["dy"]), set()).add(cell["name"])
        self.facing = tuple(data["facing_dir"])
        near_table = any(abs(c["dx"]) <= 1 and abs(c["dy"]) <= 1 for c in view if c["name"] == "table")
        if self.adjacent("zombie"):
            return self.reach("zombie")
        if inv["drink"] < 5 and self.visible("water"):
            return self.reach("water")
        if inv["food"] < 5 and self.visible("cow"):
            return self.reach("cow")
        if inv["energy"] < 3:
            return "sleep"
        for tool, needs in (("wood_pickaxe", {"wood": 1}), ("wood_sword", {"wood": 1}),
                            ("stone_pickaxe", {"wood": 1, "stone": 1}), ("stone_sword", {"wood": 1, "stone": 1})):
            if inv[tool] > 0 or (tool.startswith("stone") and inv["wood_pickaxe"] == 0):
                continue
            missing = [k for k, v in needs.items() if inv[k] < v]
            if missing:
                return self.reach("tree" if missing[0] == "wood" else "stone")
            if near_table:
                return f"make_{tool}"
            if self.visible("table"):
                return self.reach("table")
            if inv["wood"] < 2 + needs["wood"]:
                return self.reach("tree")
            return "place_table" if data["facing"] in WALKABLE else self.explore()
        if inv["wood_pickaxe"] and inv["stone"] < 2 and self.visible("stone"):
            return self.reach("stone")
        if inv["stone"] and data["facing"] in {"grass", "sand", "path", "water"}:
            return "place_stone"
        if inv["sapling"] and data["facing"] == "grass":
            return "place_plant"
        if data["facing"] == "grass":
            return "do"  # gathers a sapling one time in ten
        return self.explore()

    def visible(self, name: str) -> bool:
        return any(name in names for names in self.cells.values())

    def adjacent(self, name: str) -> bool:
        return any(name in self.cells.get(d, ()) for d in MOVES)

    def walkable(self, offset: tuple[int, int]) -> bool:
        names = self.cells.get(offset, set())
        return bool(names) and names <= WALKABLE

    def reach(self, name: str) -> str:
        """Face the nearest ``name`` and ``do``, or take one step toward it (explore if none is in view)."""
        targets = [d for d, names in self.cells.items() if name in names]
        if not targets:
            return self.explore()
        dx, dy = min(targets, key=lambda d: (abs(d[0]) + abs(d[1]), d))
        if abs(dx) + abs(dy) == 1:
            return "do" if self.facing == (dx, dy) else MOVES[(dx, dy)]
        steps = [(int(np.sign(dx)), 0), (0, int(np.sign(dy)))]
        steps.sort(key=lambda s: -abs(dx if s[0] else dy))
        for step in steps:
            if step != (0, 0) and self.walkable(step):
                return MOVES[step]
        return self.explore()

    def explore(self) -> str:
        """Keep a direction for a while; turn when it is blocked or used up."""
        self.heading_left -= 1
        if self.heading_left <= 0 or not self.walkable(self.heading):
            options = [d for d in MOVES if self.walkable(d)] or list(MOVES)
            self.heading = options[int(self.rng.integers(len(options)))]
            self.heading_left = int(self.rng.integers(4, 12))
        return MOVES[self.heading]
