"""``memory/house-v0``: errands in a BabyAI house whose rooms and objects stay put across a series.

A house is a 3 x 3 grid of rooms (MiniGrid's ``RoomGrid``, rooms of 6 x 6 cells) joined by doors
that stand open, holding the 18 BabyAI objects (6 colours x ball, box, key), two per room. Series ``s``
always builds the same house: door places, doors and object places come from a generator seeded
by ``s`` alone (:mod:`lma.envs.memory_tasks.series`). Each episode is one errand, "go to the X" or
"pick up the X", from a start in the hall (the middle room) drawn from the episode's seed, with X
in another room and out of view. The house is tidied between errands (a picked-up object is back in its place).

The first half of a series sends the agent to objects it may never have seen; each errand of the
second half asks again for the object of an errand of the first half, from a new start. Search
errands allow ``search_steps`` steps (enough to search a good part of the house); revisit errands
allow ``slack`` times the length of the shortest route plus 8 steps: enough to walk there, not to
search. What memory can give: where an object seen in an earlier errand lies, and the way there. What it cannot: anything about rooms never entered, and nothing at all in the control
family ``memory/house-control-v0`` (``series_length=1``: every episode is a new house).

The observation is BabyAI's in words (:mod:`lma.envs.game.babyai`) and a line naming the series
and the errand. ``expert_action()`` is BabyAI's bot, which searches what it has not seen; after
``use_knowledge(items)`` it starts from the cells earlier errands saw, as if it remembered them.
``knowledge()`` is the set of cells in view so far this episode (a hex bit mask).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from lma.core import Observation
from lma.envs.game.babyai import BabyAIEnv
from lma.envs.memory_tasks.series import SeriesEnv, learn_errands, recalled_index
from lma.errors import LmaError

GYM_ID = "lma-MemoryHouse-v0"
ROWS = COLS = 3
ROOM_SIZE = 6
TILE = 16  # pixels per cell: a 256 x 256 frame (MiniGrid's 32 made rendering most of a step's cost)
TYPES = ("ball", "box", "key")
COLOURS = ("red", "green", "blue", "purple", "yellow", "grey")


def house_level() -> Any:
    """The MiniGrid level class (made on first use, so listing envs imports no MiniGrid)."""
    from minigrid.core.roomgrid import RoomGrid
    from minigrid.envs.babyai.core.roomgrid_level import RejectSampling, RoomGridLevel
    from minigrid.envs.babyai.core.verifier import GoToInstr, ObjDesc, PickupInstr

    class HouseLevel(RoomGridLevel):
        """The same house for every episode of a series; the errand and start from the episode seed."""

        series, index, series_length, search_steps, slack = 0, 0, 6, 96, 2.0

        def __init__(self, **kwargs: Any):
            super().__init__(room_size=ROOM_SIZE, num_rows=ROWS, num_cols=COLS, max_steps=self.search_steps,
                             tile_size=TILE, **kwargs)

        def plan(self, rng: np.random.Generator) -> list[tuple[str, int]]:
            """(verb, object number) of each errand of the series."""
            learn = learn_errands(self.series_length)
            hall = (ROWS // 2) * COLS + COLS // 2  # objects 2 * room, 2 * room + 1 lie in that room
            away = [n for n in rng.permutation(len(TYPES) * len(COLOURS)) if int(n) // 2 != hall]
            targets = [int(t) for t in away[:learn]]
            verbs = [str(v) for v in rng.choice(["go to", "pick up"], size=self.series_length)]
            return [(verbs[i], targets[i if recalled_index(i, self.series_length) is None
                                      else recalled_index(i, self.series_length)])
                    for i in range(self.series_length)]

        def _gen_grid(self, width: int, height: int) -> None:
            episode_rng = self.np_random
            self.np_random = np.random.default_rng([self.series, 0x40C5E])
            RoomGrid._gen_grid(self, width, height)
            kinds = [(COLOURS[n % len(COLOURS)], TYPES[n // len(COLOURS)]) for n in range(len(TYPES) * len(COLOURS))]
            placed = []  # object number n lies in room n // 2 (rooms row by row)
            for number in self.np_random.permutation(len(kinds)):
                room = len(placed) // 2
                colour, kind = kinds[int(number)]
                placed.append(self.add_object(room % COLS, room // COLS, kind, colour)[0])
            self.connect_all()
            self.open_all_doors()  # BabyAI's bot plans only through doors it opened itself this episode
            verb, target = self.plan(self.np_random)[self.index]
            self.np_random = episode_rng
            obj = placed[target]
            while True:  # the hall: the middle room, where every errand starts
                self.place_agent(COLS // 2, ROWS // 2)
                if not self.agent_sees(*obj.cur_pos):
                    break
            desc = ObjDesc(obj.type, obj.color)
            self.instrs = GoToInstr(desc) if verb == "go to" else PickupInstr(desc)
            self.surface = self.mission = self.instrs.surface(self)
            self.target = obj

        def reset(self, **kwargs: Any):
            obs = super().reset(**kwargs)
            route = self.route_length(tuple(self.target.cur_pos))
            revisit = recalled_index(self.index, self.series_length) is not None
            self.max_steps = math.ceil(self.slack * route) + 8 if revisit else self.search_steps
            return obs

        def route_length(self, goal: tuple[int, int]) -> int:
            """Cells walked from the agent to beside ``goal`` through doors (objects in the way counted
            as passable: the budget's slack pays for moving one)."""
            start = tuple(int(v) for v in self.agent_pos)
            todo, seen = deque([(start, 0)]), {start}
            while todo:
                (x, y), n = todo.popleft()
                if abs(x - goal[0]) + abs(y - goal[1]) == 1:
                    return n
                for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                    cell = self.grid.get(nx, ny)
                    if (nx, ny) not in seen and (cell is None or cell.type != "wall"):
                        seen.add((nx, ny))
                        todo.append(((nx, ny), n + 1))
            raise RejectSampling("the target cannot be reached")

        def seen_cells(self) -> np.ndarray:
            """The cells in the agent's view now (walls and doors block it), as a width x height mask."""
            _, vis = self.gen_obs_grid()
            mask = np.zeros((self.width, self.height), dtype=bool)
            for x in range(self.width):
                for y in range(self.height):
                    coords = self.relative_coords(x, y)
                    if coords is not None and vis[coords[0], coords[1]]:
                        mask[x, y] = True
            return mask

    return HouseLevel


def register_level() -> None:
    if GYM_ID not in gym.registry:
        gym.register(GYM_ID, entry_point=house_level())


def _pack(mask: np.ndarray) -> str:
    return np.packbits(mask.ravel()).tobytes().hex()


def _unpack(text: str, shape: tuple[int, int]) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))
    return bits[: shape[0] * shape[1]].astype(bool).reshape(shape)


class HouseEnv(SeriesEnv, BabyAIEnv):
    """A series of errands in one house per series; see the module docstring."""

    def __init__(self, series_length: int = 6, search_steps: int = 96, slack: float = 2.0):
        if series_length < 1 or search_steps < 1 or slack <= 0:
            raise LmaError(f"memory/house needs series_length >= 1, search_steps >= 1 and slack > 0, got "
                           f"{series_length}, {search_steps}, {slack}")
        register_level()
        super().__init__(GYM_ID)
        self.level = self.inner.unwrapped
        self.series_length = self.level.series_length = int(series_length)
        self.level.search_steps, self.level.slack = int(search_steps), float(slack)
        self.max_episode_steps = int(search_steps)
        self._seen = np.zeros((self.level.width, self.level.height), dtype=bool)
        self._known = self._seen.copy()

    def _reset(self, seed: int | None):
        seed = self.start_series_episode(seed)
        self.level.series, self.level.index = self.series, self.index
        self._seen[:] = False
        self._known[:] = False
        obs, info = super()._reset(seed)  # which also reads the level's step limit
        return obs, {**info, **self.series_data()}

    def _observe(self, raw: dict[str, Any]) -> Observation:
        self._seen |= self.level.seen_cells()
        obs = super()._observe(raw)
        obs["text"] = f"{self.where_text()} (a house whose rooms and objects stay put)\n{obs['text']}"
        obs["data"].update(self.series_data())
        return obs

    def episode_metrics(self) -> dict[str, Any]:
        return {**self.series_data(), "recall_errand": self.recall_errand, "step_budget": self.max_episode_steps}

    def knowledge(self) -> dict[str, Any]:
        return {"seen": _pack(self._seen)}

    def use_knowledge(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            self._known |= _unpack(item["seen"], self._known.shape)

    def expert_action(self):
        if self._bot is None:
            from minigrid.utils.baby_ai_bot import BabyAIBot

            self._bot = BabyAIBot(self.inner.unwrapped)
            self._bot.vis_mask |= self._known
        try:
            return super().expert_action()
        except AssertionError:  # the bot found what it remembers cut off from what it sees: search instead
            if not self._known.any():
                raise
            self._known[:] = False
            self._bot = None
            return self.expert_action()
