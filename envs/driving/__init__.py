"""Driving: highway-env scenarios as lma envs (``driving/<scenario>``); see docs/driving.md.

Only the table lives here, so that registering the ids imports neither highway-env nor pygame.
"""

from __future__ import annotations

from typing import Any

# lma scenario -> (highway-env id, goal the planner reads). highway-env 1.12's own intersection-v1
# is its continuous-action variant; the meta-action intersection of the same generation (connected
# lane neighbours, like merge-v1 and roundabout-v1) is its intersection-v2.
SCENARIOS: dict[str, tuple[str, str]] = {
    "highway-fast-v0": (
        "highway-fast-v0",
        "Drive fast on a multi-lane highway without colliding; the right lanes are preferred.",
    ),
    "merge-v1": (
        "merge-v1",
        "Drive along the highway past an on-ramp where vehicles merge in from the right; "
        "keep a high speed, make room for them and do not collide.",
    ),
    "roundabout-v1": (
        "roundabout-v1",
        "Enter the roundabout, drive round it and take your exit without colliding; "
        "traffic on the ring has priority.",
    ),
    "intersection-v1": (
        "intersection-v2",
        "Cross the intersection, turning left onto your exit, without colliding; "
        "yield to crossing and oncoming traffic.",
    ),
}
PARKING_GOAL = "Park in the goal spot: stop inside it, aligned with it, without hitting the walls."


def register_scenarios(register: Any) -> None:
    """Register ``driving/<scenario>`` for the meta-action scenarios and ``driving/parking-v0`` (lazily)."""
    for name, (gym_id, _) in SCENARIOS.items():
        register(
            f"driving/{name}",
            "lma.envs.driving.env:DrivingEnv",
            scenario=name,
            description=f"highway-env {gym_id}: GPT-Driver-style text + frame, meta-action tools",
        )
    register(
        "driving/parking-v0",
        "lma.envs.driving.parking:ParkingEnv",
        description="highway-env parking-v0: goal-relative text + frame, continuous drive(acceleration, steering)",
    )
