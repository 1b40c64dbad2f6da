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
from lma.perception.minigrid_text import balrog_observation, view_sentences

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


def babyai_text_descriptions(level: Any) -> list[str]:
    """BabyAI-Text's sentences for what the agent of a MiniGrid ``level`` sees, in its order: what
    it carries, then the view (:func:`lma.perception.minigrid_text.view_sentences`)."""
    grid, vis_mask = level.gen_obs_grid()
    carried = [f"You carry a {level.carrying.color} {level.carrying.type}"] if level.carrying is not None else []
    return carried + view_sentences(grid.encode(vis_mask), level.get_view_coords(*level.agent_pos))


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
