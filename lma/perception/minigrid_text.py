"""BabyAI-Text's sentences for a MiniGrid view (Carta et al., 2023, as BALROG passes them on).

One writer for two readers: the BALROG BabyAI envs write what the agent truly sees
(:func:`lma.envs.game.balrog.babyai_text_descriptions`), and the ``tiles`` perceiver
(:mod:`lma.perception.tiles`) writes what a vision tower read off the frame, so a planner trained on
the env's text reads a frame it was never told about in the same words.
"""

from __future__ import annotations

from typing import Any

UNSEEN, EMPTY, WALL, DOOR = 0, 1, 2, 4  # MiniGrid's object indices
DOOR_STATES = ("open", "closed", "locked")


def _steps(n: int) -> str:
    return f"{n} step{'s' if n > 1 else ''}"


def view_sentences(view: Any, agent: tuple[int, int]) -> list[str]:
    """The sentences for a view in MiniGrid's encoding (``view[x][y]`` = object, colour and state
    indices; ``agent`` its cell), in BabyAI-Text's order: a wall straight ahead, to the left and
    to the right, each only when it is the first thing seen that way ("You see a wall 2 steps
    left"), then every object in the view, column by column from the left, as "You see a {colour}
    {type} " followed by its offset ("1 step right and 2 steps forward"; one part when it is
    straight ahead or level with you). Doors read "You see a {open|closed|locked} {colour} door ..."
    (BabyAI-Text writes "a open" too). What the agent carries is not in the view."""
    from minigrid.core.constants import IDX_TO_COLOR, IDX_TO_OBJECT

    ax, ay = agent
    width, height = len(view), len(view[0])
    lines = []
    rays = {
        "forward": [(ax, y) for y in range(ay - 1, -1, -1)],
        "left": [(x, ay) for x in range(ax - 1, -1, -1)],
        "right": [(x, ay) for x in range(ax + 1, width)],
    }
    for direction, cells in rays.items():
        for n, (x, y) in enumerate(cells, 1):
            if view[x][y][0] in (UNSEEN, EMPTY):
                continue
            if view[x][y][0] == WALL:
                lines.append(f"You see a wall {_steps(n)} {direction}")
            break
    for x in range(width):
        for y in range(height):
            kind, colour, state = (int(v) for v in view[x][y])
            if kind in (UNSEEN, EMPTY, WALL) or (x, y) == (ax, ay):
                continue
            name = f"{IDX_TO_COLOR.get(colour, 'unknown')} {IDX_TO_OBJECT.get(kind, 'unknown')}"
            if kind == DOOR:
                name = f"{DOOR_STATES[state] if state < len(DOOR_STATES) else 'closed'} {name}"
            dx, dy = x - ax, ay - y
            offset = [f"{_steps(abs(dx))} {'right' if dx > 0 else 'left'}"] if dx else []
            offset += [f"{_steps(dy)} forward"] if dy else []
            lines.append(f"You see a {name} " + " and ".join(offset))
    return lines


def balrog_observation(descriptions: list[str]) -> str:
    """The observation text BALROG's BabyAI wrapper makes of BabyAI-Text's sentences."""
    return "\n".join(d.replace("You see ", "") for d in descriptions)
