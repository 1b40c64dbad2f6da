"""BALROG's BabyAI task mix, ``BabyAI-MixedTrainLocal-v0``, which MiniGrid itself does not ship.

BALROG evaluates BabyAI on the level *MixedTrainLocal* of BabyAI-Text (Carta et al., 2023): one
8x8 room with 8 distractors and five kinds of instruction, ``go to``, ``pick up``, ``open`` (a
locked door whose key lies in the room), ``put next`` and ``pick up A then go to B`` (also said
as ``go to B after you pick up A``); missions naming a yellow box, a red key or door, a green ball
or a grey door are held out for testing. This module re-implements that description on
MiniGrid's BabyAI verifier (our own code, so figures are comparable in kind, not bit for bit):
the kind is drawn from the seed, so a seed always gives the same mission. The grid always has two
rooms side by side; the second is reached only through the locked door of an ``open`` mission
(BabyAI-Text builds the second room for ``open`` missions alone). BabyAI's bot solves every kind.
"""

from __future__ import annotations

import gymnasium as gym
from minigrid.core.roomgrid import RoomGrid
from minigrid.envs.babyai.core.roomgrid_level import RoomGridLevel
from minigrid.envs.babyai.core.verifier import (
    AfterInstr,
    BeforeInstr,
    GoToInstr,
    ObjDesc,
    OpenInstr,
    PickupInstr,
    PutNextInstr,
)

KINDS = ("goto", "pickup", "open", "putnext", "pickup_then_goto")
HELD_OUT = ("yellow box", "red key", "red door", "green ball", "grey door")


class MixedTrainLocal(RoomGridLevel):
    """One mission of the mix per reset; ``kinds`` restricts it to some kinds; ``kind`` is the one
    drawn for the current episode."""

    def __init__(self, kinds: tuple[str, ...] = KINDS, num_dists: int = 8, **kwargs):
        self.kinds, self.num_dists, self.kind = tuple(kinds), num_dists, kinds[0]
        super().__init__(room_size=8, num_rows=1, num_cols=2, **kwargs)

    def gen_mission(self) -> None:
        self.kind = self._rand_elem(self.kinds)
        while True:
            self._place_mission()
            if not any(word in self.instrs.surface(self) for word in HELD_OUT):
                return
            self._clear_rooms()

    def _clear_rooms(self) -> None:
        RoomGrid._gen_grid(self, self.width, self.height)  # fresh walls, no objects, no doors

    def _place_mission(self) -> None:
        if self.kind == "open":
            colour = self._rand_elem(["yellow", "green", "blue", "purple"])
            self.add_door(0, 0, 0, color=colour, locked=True)
            self.add_object(0, 0, "key", colour)
            self.add_distractors(0, 0, num_distractors=self.num_dists, all_unique=False)
            self.place_agent(0, 0)
            self.instrs = OpenInstr(ObjDesc("door", self._rand_elem([None, colour])))
            return
        extra = 2 if self.kind in ("putnext", "pickup_then_goto") else 1
        objs = self.add_distractors(0, 0, num_distractors=self.num_dists + extra, all_unique=False)
        self.place_agent(0, 0)
        first = ObjDesc(*self._pick(objs))
        if self.kind == "goto":
            self.instrs = GoToInstr(first)
        elif self.kind == "pickup":
            self.instrs = PickupInstr(first)
        else:
            second = ObjDesc(*self._pick(objs, other_than=first))
            if self.kind == "putnext":
                self.instrs = PutNextInstr(first, second)
            elif self._rand_bool():
                self.instrs = BeforeInstr(PickupInstr(first), GoToInstr(second))
            else:
                self.instrs = AfterInstr(GoToInstr(second), PickupInstr(first))

    def _pick(self, objs: list, other_than: ObjDesc | None = None) -> tuple[str, str]:
        """A random object's (type, colour); with ``other_than``, one that names a different object
        unless the description is shared by several objects."""
        while True:
            obj = self._rand_elem(objs)
            same = other_than is not None and (obj.type, obj.color) == (other_than.type, other_than.color)
            if not same or len(other_than.find_matching_objs(self)[0]) > 1:
                return obj.type, obj.color


def register() -> None:
    """Register ``BabyAI-MixedTrainLocal-v0`` with Gymnasium, once."""
    if "BabyAI-MixedTrainLocal-v0" not in gym.registry:
        gym.register("BabyAI-MixedTrainLocal-v0", entry_point=MixedTrainLocal)
