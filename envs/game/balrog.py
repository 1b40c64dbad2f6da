"""BALROG's BabyAI protocol as lma envs: ``babyai/balrog-<task>-v0``, one task per mission kind.

BALROG (Paglieri et al., 2024) scores BabyAI on five tasks, ``BabyAI-MixedTrainLocal-v0/<kind>``
for the kinds ``goto``, ``pickup``, ``open``, ``putnext`` and ``pick_up_seq_go_to`` of BabyAI-Text
(Carta et al., 2023), with ``num_dists: 0``. These envs reproduce it:

- **Level**: :class:`lma.envs.game.babyai_mix.BalrogMixedTrainLocal`: no distractors (one object
  for ``goto``/``pickup``, two for ``putnext``/``pick_up_seq_go_to``), one 8x8 room, or two for
  ``open`` with a locked door and its key; held-out missions are never generated. ``mix`` draws the
  kind too.
- **Kind from the seed.** BALROG re-makes the env until the kind it drew at construction is the
  requested one; the mission is then a draw from that kind's generator. Generating the requested
  kind directly draws from the same distribution, and makes a seed name one episode.
- **Step limit**: MiniGrid's own, 64 (``goto``, ``pickup``) or 128 (the other kinds).
- **Observation**: BabyAI-Text's sentences for the 7x7 egocentric view, exactly as BALROG's
  language wrapper passes them on ("You carry a red key", "a wall 2 steps forward",
  "a blue ball 1 step right and 3 steps forward"; see :func:`babyai_text_descriptions`), after
  the goal as BALROG's prompt states it. ``obs["image"]`` is the agent's POV render at tile size
  16, BALROG's VLM frame.
- **Frame-only text** (``text="goal"``, ``--env-arg text=goal``): the observation text is cut to
  the goal and what the agent carries; where things are must be read off the frame. For
  vision-language planners, and for the blank-frame ablation that shows whether they look.
- **Scene**: ``obs["data"]["scene"]`` holds the view's sentences without the carried object, in
  both text modes: what a captioner should say of the frame (``lma finetune --caption`` learns to
  write it; ``benchmarks/caption_accuracy.py`` scores captions against it).
- **Tiles**: ``obs["data"]["tiles"]`` is the view in MiniGrid's own encoding, row by row as the
  frame shows it (7 rows of 7 ``[object, colour, state]`` index triples; the agent's cell holds
  what it carries; cells out of sight are ``unseen``, 0): what each 16-pixel tile of the frame
  shows, for teaching a new vision tower to see (``lma finetune --pretrain-vision``).
- **Tools**: BALROG's six actions (no ``done``), named as identifiers, with BALROG's descriptions.
- **Success**: the episode terminated with a positive reward (BALROG's score is 1 per such episode).

``expert_action()`` is BabyAI's bot, as for every BabyAI env.
"""

from __future__ import annotations

from typing import Any

from lma.core import Observation
from lma.envs.game.babyai import BabyAIEnv
from lma.envs.observation import LazyObservation
from lma.errors import LmaError

TASKS = ("goto", "pickup", "open", "putnext", "pick_up_seq_go_to", "mix")
TEXTS = ("full", "goal")  # BabyAI-Text's sentences, or only the goal and the carried object
# BALROG's "turn left", "go forward", ... as tool names, with BALROG's own descriptions.
ACTIONS = {
    "turn_left": "turn to the left",
    "turn_right": "turn to the right",
    "go_forward": "take one step forward",
    "pick_up": "pick up the object below you",
    "drop": "drop the object that you are holding",
    "toggle": "manipulate the object in front of you",
}
POV_TILE_SIZE = 16
_UNSEEN, _EMPTY, _WALL, _DOOR = 0, 1, 2, 4  # MiniGrid's object indices
_DOOR_STATES = ("open", "closed", "locked")


def _steps(n: int) -> str:
    return f"{n} step{'s' if n > 1 else ''}"


def babyai_text_descriptions(level: Any) -> list[str]:
    """BabyAI-Text's sentences for what the agent of a MiniGrid ``level`` sees, in its order.

    What you carry, then a wall straight ahead, to the left and to the right, each only when it is
    the first thing seen that way ("You see a wall 2 steps left"), then every object in the view,
    column by column from the left, as "You see a {colour} {type} " followed by its offset ("1 step
    right and 2 steps forward"; one part when it is straight ahead or level with you). Doors read
    "You see a {open|closed|locked} {colour} door ..." (BabyAI-Text writes "a open" too).
    """
    from minigrid.core.constants import IDX_TO_COLOR, IDX_TO_OBJECT

    grid, vis_mask = level.gen_obs_grid()
    view = grid.encode(vis_mask)
    ax, ay = level.get_view_coords(*level.agent_pos)
    lines = []
    if level.carrying is not None:
        lines.append(f"You carry a {level.carrying.color} {level.carrying.type}")
    rays = {
        "forward": [(ax, y) for y in range(ay - 1, -1, -1)],
        "left": [(x, ay) for x in range(ax - 1, -1, -1)],
        "right": [(x, ay) for x in range(ax + 1, view.shape[0])],
    }
    for direction, cells in rays.items():
        for n, (x, y) in enumerate(cells, 1):
            if view[x, y, 0] in (_UNSEEN, _EMPTY):
                continue
            if view[x, y, 0] == _WALL:
                lines.append(f"You see a wall {_steps(n)} {direction}")
            break
    for x in range(view.shape[0]):
        for y in range(view.shape[1]):
            kind, colour, state = (int(v) for v in view[x, y])
            if kind in (_UNSEEN, _EMPTY, _WALL) or (x, y) == (ax, ay):
                continue
            name = f"{IDX_TO_COLOR[colour]} {IDX_TO_OBJECT[kind]}"
            if kind == _DOOR:
                name = f"{_DOOR_STATES[state]} {name}"
            dx, dy = x - ax, ay - y
            offset = [f"{_steps(abs(dx))} {'right' if dx > 0 else 'left'}"] if dx else []
            offset += [f"{_steps(dy)} forward"] if dy else []
            lines.append(f"You see a {name} " + " and ".join(offset))
    return lines


def balrog_observation(descriptions: list[str]) -> str:
    """The observation text BALROG's BabyAI wrapper makes of BabyAI-Text's sentences."""
    return "\n".join(d.replace("You see ", "") for d in descriptions)


class BalrogEnv(BabyAIEnv):
    """One BALROG BabyAI task: ``task`` is a mission kind, or ``mix`` to draw the kind from the seed;
    ``text`` is ``full`` (BabyAI-Text's sentences) or ``goal`` (the goal and the carried object)."""

    action_tools = ACTIONS

    def __init__(self, task: str = "mix", max_steps: int | None = None, text: str = "full"):
        if task not in TASKS:
            raise LmaError(f"unknown BALROG BabyAI task {task!r}; choose one of {', '.join(TASKS)}")
        if text not in TEXTS:
            raise LmaError(f"text={text!r}: choose {' or '.join(TEXTS)}")
        self.text = text
        super().__init__(f"BALROG/BabyAI-{task}-v0", max_steps)

    def _frame_shape(self) -> tuple[int, int]:
        """(height, width) of the POV frame: the 7x7 view at BALROG's tile size."""
        side = self.inner.unwrapped.agent_view_size * POV_TILE_SIZE
        return side, side

    def _observe(self, raw: dict[str, Any]) -> Observation:
        level = self.inner.unwrapped
        descriptions = babyai_text_descriptions(level)
        carried = [d for d in descriptions if d.startswith("You carry ")]
        observation = balrog_observation(carried if self.text == "goal" else descriptions)
        text = "\n".join(filter(None, [f"Your goal is to {raw['mission']}.", observation]))
        data = {"goal": raw["mission"], "kind": level.kind, "observation": observation, "max_steps": level.max_steps,
                "scene": balrog_observation([d for d in descriptions if d not in carried]),
                "tiles": raw["image"].transpose(1, 0, 2).tolist()}  # MiniGrid's [x][y] -> the frame's rows
        return LazyObservation(text=text, image=self.defer(lambda: level.get_pov_render(tile_size=POV_TILE_SIZE)),
                               data=data)


def register_tasks(register: Any) -> None:
    """Register ``babyai/balrog-<task>-v0`` for BALROG's five kinds and ``mix`` (lazily)."""
    for task in TASKS:
        what = "kind drawn from the seed" if task == "mix" else task
        register(
            f"babyai/balrog-{task}-v0",
            "lma.envs.game.balrog:BalrogEnv",
            task=task,
            description=f"BALROG's BabyAI protocol ({what}): BabyAI-Text sentences, POV frames; expert: BabyAIBot",
        )
