"""When an episode of a wrapped Gymnasium env is a success: declared, else a rule, else unknown.

Gymnasium has no notion of success, and guessing one makes failures look like results (counting
every terminated episode with a positive reward as a success counts each dropped CartPole pole).
So the wrapper decides, on the step that ends an episode, in this order:

1. what the env declares: ``info["success"]``, or ``info["is_success"]`` as gymnasium-robotics
   envs report it;
2. the rule given for the env (``lma.make(id, success=...)``, or ``success`` in the run's
   ``env_args``);
3. the rule registered here for the env's name (:data:`RULES`: classic-control and toy-text);
4. else unknown: ``None``, which no statistic counts as a success or a failure.

A rule is a string, so a YAML config can hold it, or a function of the episode's :class:`Ending`:

* ``survive``: truncated (the env's time limit reached) without terminating (CartPole);
* ``terminate``: reaching a terminal state is the goal (MountainCar, Acrobot, Taxi, CliffWalking);
* ``positive_reward``: terminated with a positive last reward (FrozenLake's goal, a won Blackjack hand);
* ``return>=X``: an episode return of at least X (LunarLander is solved at 200).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lma.errors import LmaError


@dataclass(frozen=True)
class Ending:
    """How an episode ended: what a success rule looks at."""

    terminated: bool
    truncated: bool
    reward: float  # of the last step
    return_: float  # of the whole episode
    info: Mapping[str, Any]


SuccessRule = Callable[[Ending], bool]

RULE_NAMES: dict[str, SuccessRule] = {
    "survive": lambda end: end.truncated and not end.terminated,
    "terminate": lambda end: end.terminated,
    "positive_reward": lambda end: end.terminated and end.reward > 0,
}

# Rules for well-known envs, by Gymnasium name (the id without its version).
RULES: dict[str, str] = {
    "CartPole": "survive",
    "MountainCar": "terminate",
    "MountainCarContinuous": "terminate",
    "Acrobot": "terminate",
    "Taxi": "terminate",
    "CliffWalking": "terminate",
    "CliffWalkingSlippery": "terminate",
    "FrozenLake": "positive_reward",
    "FrozenLake8x8": "positive_reward",
    "Blackjack": "positive_reward",
    "LunarLander": "return>=200",
    "LunarLanderContinuous": "return>=200",
}

_THRESHOLD = re.compile(r"return\s*>=\s*(-?\d+(?:\.\d*)?(?:e-?\d+)?)$")


def parse_rule(rule: str | SuccessRule) -> SuccessRule:
    """A rule from its string form (see the module docstring) or the function itself."""
    if callable(rule):
        return rule
    if rule in RULE_NAMES:
        return RULE_NAMES[rule]
    match = _THRESHOLD.match(str(rule).strip())
    if match is None:
        raise LmaError(f"unknown success rule {rule!r}; expected {', '.join(RULE_NAMES)} or return>=NUMBER")
    threshold = float(match.group(1))
    return lambda end: end.return_ >= threshold


def declared(info: Mapping[str, Any]) -> bool | None:
    """What the env itself says of success on this step, or None when it says nothing."""
    for key in ("success", "is_success"):
        if info.get(key) is not None:
            return bool(info[key])
    return None


def rule_for(name: str | None, given: str | SuccessRule | None) -> SuccessRule | None:
    """The rule given for the env, else the one registered for its name, else None (unknown)."""
    if given is not None:
        return parse_rule(given)
    return parse_rule(RULES[name]) if name in RULES else None
