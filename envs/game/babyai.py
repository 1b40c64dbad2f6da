"""BabyAI and MiniGrid levels as lma envs, described in words as BALROG's language wrapper does.

Each observation has the mission, a text rendering of what the agent sees in its 7x7 egocentric
view (objects with colours and door states, at relative positions such as "2 steps forward and 1
step left", and the distance to the wall ahead), what it carries, and the RGB frame. The seven
MiniGrid actions are tools: turn_left, turn_right, forward, pickup, drop, toggle, done.

``expert_action()`` is BabyAI's own scripted bot (``minigrid.utils.baby_ai_bot.BabyAIBot``), an
oracle that solves the BabyAI levels; agent ``expert`` uses it. ``decoy_action()`` is the same bot
on the mission misread (:func:`misread`: the two objects' roles swapped), the mistake a learner
makes on two-object missions, so that expert runs can start with it and show the recovery
(``expert?decoy=P``). Success means the level's own success signal: the episode terminated with a
positive reward.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np

from lma.core import Observation, ToolCall
from lma.envs.base import ActionTool, ToolEnv
from lma.envs.observation import LazyObservation
from lma.envs.spaces import Frame, observation_space

ACTIONS = {
    "turn_left": "turn left in place",
    "turn_right": "turn right in place",
    "forward": "move one step forward",
    "pickup": "pick up the object right in front of you",
    "drop": "drop the object you carry in front of you",
    "toggle": "open or close the door (or box) right in front of you",
    "done": "declare the task complete",
}
_VIEW_AGENT = (3, 6)  # the agent's cell in MiniGrid's 7x7 egocentric view, facing "up"


def misread(instr: Any) -> Any | None:
    """The mission with its two objects' roles swapped, or None when it names fewer than two:
    "put the X next to the Y" read as "put the Y next to the X", "pick up X, then go to Y" as
    "pick up Y, then go to X"."""
    from minigrid.envs.babyai.core.verifier import AfterInstr, AndInstr, BeforeInstr, PutNextInstr

    if isinstance(instr, PutNextInstr):
        return PutNextInstr(instr.desc_fixed, instr.desc_move)
    if isinstance(instr, (BeforeInstr, AfterInstr, AndInstr)):
        first, second = instr.instr_a, instr.instr_b
        if hasattr(first, "desc") and hasattr(second, "desc") and first.desc is not second.desc:
            return type(instr)(type(first)(second.desc), type(second)(first.desc))
    return None


def _steps(n: int, word: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {word}"


def relative_position(dx: int, dy: int) -> str:
    """``dx`` to the right, ``dy`` forward, in words."""
    parts = []
    if dy:
        parts.append(_steps(abs(dy), "forward" if dy > 0 else "backward"))
    if dx:
        parts.append(_steps(abs(dx), "right" if dx > 0 else "left"))
    return " and ".join(parts) or "here"


@functools.cache
def _view_tables() -> tuple[dict[int, str], dict[int, str], dict[int, str], np.ndarray]:
    """MiniGrid's index tables (imported on first use), and which object indices a view mentions."""
    from minigrid.core.constants import (
        IDX_TO_COLOR,
        IDX_TO_OBJECT,
        OBJECT_TO_IDX,
        STATE_TO_IDX,
    )

    mentioned = np.ones(max(IDX_TO_OBJECT) + 1, dtype=bool)  # by object index
    mentioned[[OBJECT_TO_IDX[k] for k in ("unseen", "empty", "wall", "agent", "floor")]] = False
    return IDX_TO_COLOR, IDX_TO_OBJECT, {v: k for k, v in STATE_TO_IDX.items()}, mentioned


def describe_view(view: np.ndarray) -> list[str]:
    """Sentences for the objects in an encoded 7x7x3 egocentric view (object, colour, state).

    Objects come nearest first (sentences in alphabetical order where distances tie), then the
    wall straight ahead. The cells to describe are found with numpy: this runs at every step.
    """
    idx_to_color, idx_to_object, idx_to_state, mentioned = _view_tables()
    ax, ay = _VIEW_AGENT
    seen = []
    for x, y in zip(*np.nonzero(mentioned[view[:, :, 0]])):
        kind, colour, state = (int(v) for v in view[x, y])
        name = f"{idx_to_color[colour]} {idx_to_object[kind]}"
        if idx_to_object[kind] == "door":
            name = f"{idx_to_state[state]} {name}"
        dx, dy = int(x) - ax, ay - int(y)
        seen.append((abs(dx) + abs(dy), f"a {name} {relative_position(dx, dy)}"))
    sentences = [s for _, s in sorted(seen)]
    column = [idx_to_object[k] for k in view[ax, :ay, 0].tolist()][::-1]  # the cells ahead, nearest first
    ahead = next((n for n, kind in enumerate(column) if kind in ("wall", "unseen")), len(column))
    if ahead < len(column) and column[ahead] == "wall":
        sentences.append(f"a wall {_steps(ahead + 1, 'forward')}")
    return sentences


class BabyAIEnv(ToolEnv):
    """A MiniGrid/BabyAI level by its Gymnasium id, e.g. ``BabyAI-GoToRedBall-v0``."""

    action_tools: dict[str, str] = ACTIONS  # tool name -> description, in MiniGrid's action order

    def __init__(self, gym_id: str, max_steps: int | None = None):
        super().__init__()
        import minigrid

        from lma.envs.game import babyai_mix

        gym.register_envs(minigrid)
        babyai_mix.register()  # BALROG's mix, which MiniGrid does not ship
        kwargs = {"max_steps": max_steps} if max_steps else {}
        self.inner = gym.make(gym_id, render_mode="rgb_array", **kwargs)
        self.max_episode_steps = int(self.inner.unwrapped.max_steps)  # MiniGrid's own limit for the level
        self.gym_id = gym_id
        self.tools = [ActionTool(name, description) for name, description in self.action_tools.items()]
        self._names = list(self.action_tools)
        self._bot: Any = None
        self._last_action: Any = None
        self._advice: dict[str, ToolCall] = {}  # each bot's action for the current state, once asked
        self._decoy: Any = None  # the bot on the misread mission, while it leads
        self.observation_space = observation_space(Frame(self._frame_shape(), optional=False))

    def _frame_shape(self) -> tuple[int, int]:
        """(height, width) of the frame ``_observe`` shows: the whole grid at the level's tile size."""
        level = self.inner.unwrapped
        return level.height * level.tile_size, level.width * level.tile_size

    def _observe(self, raw: dict[str, Any]) -> Observation:
        inner = self.inner.unwrapped
        lines = [f"Mission: {raw['mission']}", "You see: " + ("; ".join(describe_view(raw["image"])) or "nothing")]
        carrying = inner.carrying
        lines.append(f"You carry: a {carrying.color} {carrying.type}" if carrying else "You carry: nothing")
        return LazyObservation(text="\n".join(lines), image=self.defer(self.inner.render), data={"goal": raw["mission"]})

    def _reset(self, seed: int | None):
        raw, info = self.inner.reset(seed=seed)
        # The level's limit is set as it is made (BALROG's mix: 64 or 128 by mission kind; MiniGrid's
        # mixed levels alike): read it anew, or the runner would cap every episode at the first one's.
        self.max_episode_steps = int(self.inner.unwrapped.max_steps)
        self._bot, self._last_action, self._advice, self._decoy = None, None, {}, None
        return self._observe(raw), info

    def _act(self, call: ToolCall):
        action = self._names.index(call.name)
        self._last_action, self._advice = self.inner.unwrapped.actions(action), {}
        raw, reward, terminated, truncated, info = self.inner.step(action)
        info = {**info, "success": bool(terminated and reward > 0)}
        return self._observe(raw), reward, terminated, truncated, info

    def expert_action(self) -> ToolCall:
        """BabyAI's bot's action here. Asked again before the env moves, it gives the same one: the
        bot updates its plan with the last action every time it is asked, so a second ask (after a
        learner's call that failed validation, say) would count that action twice and skew every
        later label."""
        return self._ask(self.inner.unwrapped.instrs, "_bot")

    def decoy_action(self) -> ToolCall | None:
        """The bot's action on the misread mission (:func:`misread`), from the first step until the
        agent carries something (the wrong object, as a rule); None from then on, when first asked
        after the first step, and for a mission with one object."""
        level = self.inner.unwrapped
        if self._decoy is False or level.carrying is not None or (self._decoy is None and self._last_action is not None):
            self._decoy = False
            return None
        wrong = misread(level.instrs)
        if wrong is None:
            self._decoy = False
            return None
        return self._ask(wrong, "_decoy")

    def _ask(self, instrs: Any, slot: str) -> ToolCall:
        """The action of the bot kept in ``slot`` (made now for ``instrs`` if there is none; it then
        plans from the state as it is, with no last action), once per state."""
        if slot in self._advice:
            return self._advice[slot]
        bot, last = getattr(self, slot), self._last_action
        if bot is None:
            from minigrid.utils.baby_ai_bot import BabyAIBot

            level = self.inner.unwrapped
            mission, level.instrs = level.instrs, instrs  # the bot reads its plan from the level as it is made
            try:
                bot, last = BabyAIBot(level), None
            finally:
                level.instrs = mission
            setattr(self, slot, bot)
        action = int(bot.replan(last))
        if action >= len(self._names):
            raise RuntimeError(f"BabyAIBot chose MiniGrid action {action}, which {self.gym_id} has no tool for")
        self._advice[slot] = ToolCall(self._names[action])
        return self._advice[slot]

    def close(self) -> None:
        self.inner.close()


BABYAI_LEVELS = [
    "GoToRedBallGrey", "GoToRedBall", "GoToRedBallNoDists", "GoToObj", "GoToObjS4", "GoToLocal",
    "GoToRedBlueBall", "GoToDoor", "GoToObjDoor", "GoTo", "GoToImpUnlock", "GoToSeq",
    "Open", "OpenDoor", "OpenRedDoor", "OpenTwoDoors", "OpenDoorsOrderN4",
    "Pickup", "PickupLoc", "PickupDist", "PickupAbove", "UnblockPickup",
    "PutNextLocal", "PutNextS5N2", "PutNextS6N3", "PutNextS7N4",
    "Unlock", "UnlockLocal", "UnlockPickup", "BlockedUnlockPickup", "KeyCorridorS3R1",
    "ActionObjDoor", "FindObjS5", "MoveTwoAcrossS5N2", "Synth", "SynthLoc", "SynthSeq",
    "MiniBossLevel", "BossLevel", "MixedTrainLocal",
]


def register_levels(register: Any) -> None:
    """Register ``babyai/<Level>-v0`` for the levels above (lazily; nothing of MiniGrid is imported now)."""
    for level in BABYAI_LEVELS:
        register(
            f"babyai/{level}-v0",
            "lma.envs.game.babyai:BabyAIEnv",
            gym_id=f"BabyAI-{level}-v0",
            description=f"BabyAI {level}, described in words; expert: BabyAIBot",
        )
