"""Well-known Gymnasium envs in words: the names of their actions and their goal.

A wrapped Discrete env otherwise offers ``action_0 .. action_{n-1}`` and an observation of bare
numbers, which tells a language model nothing (FrozenLake's ``action_2`` is "right"). The tables
are keyed by the Gymnasium name (the id without its version, as in ``env.spec.name``); the names
and meanings are those of Gymnasium's documentation of each env. Envs not listed here may still
say their actions themselves (``get_action_meanings()`` in ALE, MiniGrid's ``actions``): see
:func:`lma.envs.gym_wrapper.action_names`.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym

_MOVES = {"left": "move one cell left", "down": "move one cell down", "right": "move one cell right",
          "up": "move one cell up"}  # fmt: skip

ACTIONS: dict[str, list[tuple[str, str]]] = {
    "FrozenLake": [(m, _MOVES[m]) for m in ("left", "down", "right", "up")],
    "FrozenLake8x8": [(m, _MOVES[m]) for m in ("left", "down", "right", "up")],
    "CliffWalking": [(m, _MOVES[m]) for m in ("up", "right", "down", "left")],
    "CliffWalkingSlippery": [(m, _MOVES[m]) for m in ("up", "right", "down", "left")],
    "Taxi": [("south", "drive one cell down"), ("north", "drive one cell up"), ("east", "drive one cell right"),
             ("west", "drive one cell left"), ("pickup", "pick the passenger up"),
             ("dropoff", "drop the passenger off")],
    "Blackjack": [("stick", "stop drawing cards"), ("hit", "draw another card")],
    "MountainCar": [("push_left", "accelerate to the left"), ("no_push", "do not accelerate"),
                    ("push_right", "accelerate to the right")],
    "CartPole": [("push_left", "push the cart to the left"), ("push_right", "push the cart to the right")],
    "Acrobot": [("torque_negative", "apply -1 torque to the middle joint"),
                ("no_torque", "apply no torque"), ("torque_positive", "apply +1 torque to the middle joint")],
    "LunarLander": [("noop", "do nothing"), ("fire_left", "fire the left orientation engine"),
                    ("fire_main", "fire the main engine"), ("fire_right", "fire the right orientation engine")],
}  # fmt: skip


def _lake(env: gym.Env) -> str:
    inner = env.unwrapped
    rows = ["".join(cell.decode() for cell in row) for row in inner.desc]
    slippery = env.spec is None or env.spec.kwargs.get("is_slippery", True)
    return ("Walk across the frozen lake from the start S to the goal G without stepping into a hole H"
            f"{' (the ice is slippery: a move may go sideways)' if slippery else ''}. "
            f"Map, top row first (F is frozen ice): {'/'.join(rows)}. The observation is your cell, "
            f"row * {inner.ncol} + column, counted from 0 at the top left.")


_CAR = ("Drive the underpowered car up the right hill to the flag (position 0.5): rock back and forth "
        "to build momentum. The observation is (position, velocity).")
_LANDER = ("Land softly on the pad between the two flags, upright, and come to rest. The observation is "
           "(x, y, x velocity, y velocity, angle, angular velocity, left leg down, right leg down).")
_CLIFF = ("Walk from the bottom-left corner to the bottom-right corner of the 4 x 12 grid without stepping "
          "onto the cliff along the bottom edge (it sends you back to the start). The observation is your "
          "cell, row * 12 + column, counted from 0 at the top left.")

GOALS: dict[str, str | Callable[[gym.Env], str]] = {
    "FrozenLake": _lake,
    "FrozenLake8x8": _lake,
    "CliffWalking": _CLIFF,
    "CliffWalkingSlippery": _CLIFF,
    "Taxi": ("Drive the taxi to the passenger, pick them up, drive to their destination and drop them off. "
             "The observation encodes the taxi's row and column, where the passenger is and the destination."),
    "Blackjack": ("Beat the dealer: finish with a hand closer to 21 than the dealer's without going over. "
                  "The observation is (your sum, the dealer's showing card, whether you hold a usable ace)."),
    "MountainCar": _CAR,
    "MountainCarContinuous": _CAR,
    "CartPole": ("Keep the pole upright on the cart, and the cart on the track, until the episode's time runs out. "
                 "The observation is (cart position, cart velocity, pole angle, pole angular velocity)."),
    "Acrobot": ("Swing the free end of the two-link arm up above the bar, to at least one link's length, by "
                "torquing the middle joint. The observation is (cos and sin of both joint angles, both "
                "angular velocities)."),
    "LunarLander": _LANDER,
    "LunarLanderContinuous": _LANDER,
}  # fmt: skip


def known_name(env: gym.Env) -> str | None:
    """The env's Gymnasium name (``FrozenLake`` for ``FrozenLake-v1``), or None for an env without a spec."""
    spec = env.spec
    if spec is None:
        return None
    return spec.name if spec.namespace is None else f"{spec.namespace}/{spec.name}"


def goal(env: gym.Env) -> str | None:
    """The goal of a well-known env in words, or None."""
    text = GOALS.get(known_name(env) or "")
    return text(env) if callable(text) else text
