"""BALROG's BabyAI task mix, ``BabyAI-MixedTrainLocal-v0``, which MiniGrid's releases do not ship.

BALROG evaluates BabyAI on the level *MixedTrainLocal* of BabyAI-Text (Carta et al., 2023): five
kinds of instruction, ``go to``, ``pick up``, ``open`` (a locked door whose key lies in the room),
``put next`` and ``pick up A then go to B`` (also said as ``go to B after you pick up A``); missions
naming a yellow box, a red key or door, a green ball or a grey door are held out for testing. This
module re-implements that description on MiniGrid's BabyAI verifier (our own code, so figures are
comparable in kind, not bit for bit), in two variants:

- :class:`MixedTrainLocal` (``BabyAI-MixedTrainLocal-v0``), lma's harder mix: 8 distractors and
  always two rooms side by side, the second reached only through the locked door of an ``open``
  mission.
- :class:`BalrogMixedTrainLocal` (``BALROG/BabyAI-<kind>-v0`` and ``BALROG/BabyAI-mix-v0``),
  BALROG's own settings: ``num_dists: 0``, one 8x8 room, or two for ``open`` with either room the
  locked one, the agent placed before the objects as BabyAI-Text places it. :mod:`lma.envs.game.balrog`
  makes lma envs of them.

In both the kind is drawn from the seed, so a seed always gives the same mission. BabyAI's bot
solves every kind.
"""

from __future__ import annotations

import gymnasium as gym
from minigrid.core.roomgrid import RoomGrid
from minigrid.envs.babyai.core.roomgrid_level import RejectSampling, RoomGridLevel
from minigrid.envs.babyai.core.verifier import (
    AfterInstr,
    BeforeInstr,
    GoToInstr,
    Instr,
    ObjDesc,
    OpenInstr,
    PickupInstr,
    PutNextInstr,
)

KINDS = ("goto", "pickup", "open", "putnext", "pick_up_seq_go_to")  # BabyAI-Text's action kinds
TWO_OBJECTS = ("putnext", "pick_up_seq_go_to")  # the kinds that name two objects
HELD_OUT = ("yellow box", "red key", "red door", "green ball", "grey door")
DOOR_COLOURS = ("yellow", "green", "blue", "purple")  # red and grey doors are held out
BALROG_TASKS = {**{kind: (kind,) for kind in KINDS}, "mix": KINDS}  # task name -> kinds it draws


class MixedTrainLocal(RoomGridLevel):
    """One mission of the mix per reset; ``kinds`` restricts it to some kinds; ``kind`` is the one
    drawn for the current episode."""

    def __init__(self, kinds: tuple[str, ...] = KINDS, num_dists: int = 8, **kwargs):
        self.kinds, self.num_dists, self.kind = tuple(kinds), num_dists, kinds[0]
        super().__init__(room_size=8, num_rows=1, num_cols=2, **kwargs)

    def gen_mission(self) -> None:
        self.kind = self._rand_elem(self.kinds)
        self._gen_accepted_mission()

    def _gen_accepted_mission(self) -> None:
        while True:
            self._place_mission()
            if self._acceptable():
                return
            RoomGrid._gen_grid(self, self.width, self.height)  # fresh walls, no objects, no doors

    def _acceptable(self) -> bool:
        return not any(word in self.instrs.surface(self) for word in HELD_OUT)

    def _place_mission(self) -> None:
        if self.kind == "open":
            self._place_open(locked=1)
            return
        extra = 2 if self.kind in TWO_OBJECTS else 1
        objs = self.add_distractors(0, 0, num_distractors=self.num_dists + extra, all_unique=False)
        self.place_agent(0, 0)
        self.instrs = self._object_instr(objs)

    def _place_open(self, locked: int) -> None:
        """A locked door into room ``locked`` (0 left, 1 right); its key, the distractors and the
        agent in the other room."""
        colour = self._rand_elem(DOOR_COLOURS)
        self.add_door(locked, 0, 2 if locked else 0, color=colour, locked=True)
        self.add_object(1 - locked, 0, "key", colour)
        self.add_distractors(1 - locked, 0, num_distractors=self.num_dists, all_unique=False)
        self.place_agent(1 - locked, 0)
        self.instrs = OpenInstr(ObjDesc("door", self._rand_elem([None, colour])))

    def _object_instr(self, objs: list) -> Instr:
        """The instruction of ``self.kind`` (not ``open``) about some of ``objs``, chosen as
        BabyAI-Text chooses it."""
        first = ObjDesc(*self._pick(objs))
        if self.kind == "goto":
            return GoToInstr(first)
        if self.kind == "pickup":
            return PickupInstr(first)
        second = ObjDesc(*self._pick(objs, other_than=first))
        if self.kind == "putnext":
            return PutNextInstr(first, second)
        if self._rand_bool():
            return BeforeInstr(PickupInstr(first), GoToInstr(second))
        return AfterInstr(GoToInstr(second), PickupInstr(first))

    def _pick(self, objs: list, other_than: ObjDesc | None = None) -> tuple[str, str]:
        """A random object's (type, colour); with ``other_than``, one that names a different object
        unless the description is shared by several objects."""
        while True:
            obj = self._rand_elem(objs)
            same = other_than is not None and (obj.type, obj.color) == (other_than.type, other_than.color)
            if not same or len(other_than.find_matching_objs(self)[0]) > 1:
                return obj.type, obj.color


class BalrogMixedTrainLocal(MixedTrainLocal):
    """The mix with BALROG's settings (see the module docstring).

    BabyAI-Text sizes the grid by the kind (two rooms for ``open`` only), so the kind is drawn
    before the grid is built and the grid is resized to it; MiniGrid's step limit
    (``num_navs x room_size^2 x rows x cols``) follows: 64 for ``goto`` and ``pickup``, 128 for
    ``open`` (two rooms) and for ``putnext`` and ``pick_up_seq_go_to`` (two navigations).
    """

    def __init__(self, kinds: tuple[str, ...] = KINDS, num_dists: int = 0, **kwargs):
        super().__init__(kinds=kinds, num_dists=num_dists, **kwargs)

    def _gen_grid(self, width: int, height: int) -> None:
        self.kind = self._rand_elem(self.kinds)
        self.num_cols = 2 if self.kind == "open" else 1
        self.width = (self.room_size - 1) * self.num_cols + 1
        super()._gen_grid(self.width, height)

    def gen_mission(self) -> None:  # the kind was drawn by _gen_grid
        self._gen_accepted_mission()

    def _acceptable(self) -> bool:
        # Reject here what the level's own validation would reject later, so as to resample in
        # silence (MiniGrid prints every rejection) and keep the kind.
        try:
            self.validate_instrs(self.instrs)
        except RejectSampling:
            return False
        return super()._acceptable()

    def _place_mission(self) -> None:
        if self.kind == "open":
            self._place_open(locked=self._rand_int(0, 2))
            return
        self.place_agent(0, 0)  # before the objects, so one may lie right in front of the agent
        extra = 2 if self.kind in TWO_OBJECTS else 1
        objs = self.add_distractors(0, 0, num_distractors=self.num_dists + extra, all_unique=False)
        self.instrs = self._object_instr(objs)


def register() -> None:
    """Register ``BabyAI-MixedTrainLocal-v0`` and BALROG's ``BALROG/BabyAI-<task>-v0`` with
    Gymnasium, once."""
    if "BabyAI-MixedTrainLocal-v0" not in gym.registry:
        gym.register("BabyAI-MixedTrainLocal-v0", entry_point=MixedTrainLocal)
    for task, kinds in BALROG_TASKS.items():
        if f"BALROG/BabyAI-{task}-v0" not in gym.registry:
            gym.register(f"BALROG/BabyAI-{task}-v0", entry_point=BalrogMixedTrainLocal, kwargs={"kinds": kinds})
